package model

import "testing"

func TestGlobMatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		pattern, s string
		want       bool
	}{
		{"*/pricing*", "https://acme.io/pricing", true},
		{"*/pricing*", "https://acme.io/Pricing?plan=pro", true},
		{"*/pricing*", "https://acme.io/about", false},
		{"*/blog/*", "https://acme.io/blog/a/b", true},
		{"*/blog/*", "https://acme.io/blog", false},
		{"whitepaper", "WhitePaper", true},
		{"whitepaper", "whitepapers", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"*", "", true},
		{"", "", true},
		{"", "x", false},
		{"**a*b", "xxaxxb", true},
		{"*a*b", "xxaxxc", false},
	} {
		if got := globMatch(tt.pattern, tt.s); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}
