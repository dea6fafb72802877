package scoring

// Memory keeps homes in memory: the reference store for tests and for
// replaying a history without Redis. Commit copies a workspace's homes back.
type Memory struct {
	Homes map[string]*Home
	Where map[string]string
}

// NewMemory returns an empty store.
func NewMemory() *Memory { return &Memory{Homes: map[string]*Home{}, Where: map[string]string{}} }

// LoadHome returns a deep copy of a home, or an empty one.
func (m *Memory) LoadHome(id string, _ bool) (*Home, error) {
	h := NewHome(id)
	h.AllMembers = true
	if src, ok := m.Homes[id]; ok {
		h.Account = src.Account.Clone()
		for cid, c := range src.Contacts {
			h.Contacts[cid] = c.Clone()
		}
	}
	return h, nil
}

// Workspace returns a workspace over this store with every known contact
// located.
func (m *Memory) Workspace(e *Engine) *Workspace {
	w := NewWorkspace(e, m)
	for cid, home := range m.Where {
		w.Locate(cid, home)
	}
	return w
}

// Commit stores every changed home of the workspace.
func (m *Memory) Commit(w *Workspace) {
	for id, h := range w.Homes {
		m.Homes[id] = h
		for _, cid := range h.Removed {
			if m.Where[cid] == id {
				delete(m.Where, cid)
			}
		}
	}
	for cid, home := range w.Where {
		m.Where[cid] = home
	}
}

// Contact returns a contact's stored state, or nil.
func (m *Memory) Contact(id string) *Contact {
	if h, ok := m.Homes[m.Where[id]]; ok {
		return h.Contacts[id]
	}
	return nil
}
