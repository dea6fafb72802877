package commit

import "sync"

// Unindexed holds the contact index entries of batches committed whose
// derived keys are still to be written (see Batch.Derived), so that the
// batches loaded after them find those contacts where they were
// committed: a new contact of one batch, posted again in the next without
// its account, is found in its account's home rather than made a contact
// of its own.
type Unindexed struct {
	mu    sync.Mutex
	where map[string]unindexed
}

type unindexed struct {
	home  string
	batch uint64
}

// Add notes the entries of batch (contact → home), to be written.
func (u *Unindexed) Add(batch uint64, where map[string]string) {
	if len(where) == 0 {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.where == nil {
		u.where = make(map[string]unindexed, len(where))
	}
	for c, h := range where {
		u.where[c] = unindexed{home: h, batch: batch}
	}
}

// Written forgets the entries of batch once Redis has them; an entry a
// later batch gave again stays.
func (u *Unindexed) Written(batch uint64, where map[string]string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for c := range where {
		if e, ok := u.where[c]; ok && e.batch == batch {
			delete(u.where, c)
		}
	}
}

// Len is how many entries are still to be written.
func (u *Unindexed) Len() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.where)
}

// of returns the entries still to be written for contacts. Taken before
// the index is read, it holds every entry that read may miss: an entry
// forgotten before it was taken was written before the read.
func (u *Unindexed) of(contacts []string) map[string]string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.where) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, c := range contacts {
		if e, ok := u.where[c]; ok {
			out[c] = e.home
		}
	}
	return out
}
