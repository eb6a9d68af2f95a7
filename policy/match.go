package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/dra-project/dra/configs"
)

// pattern matches a DiameterIdentity or realm, ASCII case-insensitively:
// an exact name, "*.suffix" (any name ending in ".suffix", not suffix
// itself) or "*" (anything).
type pattern struct {
	any    bool
	suffix bool
	s      string // lower case; for a suffix pattern, ".suffix"
}

func compilePattern(p string) pattern {
	p = strings.ToLower(strings.TrimSpace(p))
	switch {
	case p == "*":
		return pattern{any: true}
	case strings.HasPrefix(p, "*."):
		return pattern{suffix: true, s: p[1:]}
	}
	return pattern{s: p}
}

func (p *pattern) match(name []byte) bool {
	switch {
	case p.any:
		return true
	case p.suffix:
		return len(name) > len(p.s) && equalFold(name[len(name)-len(p.s):], p.s)
	}
	return equalFold(name, p.s)
}

// patterns is a list of patterns; it matches when one does. An empty list
// is "not configured": callers decide what that means.
type patterns []pattern

func compilePatterns(l []string) patterns {
	if len(l) == 0 {
		return nil
	}
	out := make(patterns, len(l))
	for i, s := range l {
		out[i] = compilePattern(s)
	}
	return out
}

func (ps patterns) match(name []byte) bool {
	for i := range ps {
		if ps[i].match(name) {
			return true
		}
	}
	return false
}

func (ps patterns) matchString(name string) bool {
	for i := range ps {
		if ps[i].matchString(name) {
			return true
		}
	}
	return false
}

func (p *pattern) matchString(name string) bool {
	switch {
	case p.any:
		return true
	case p.suffix:
		return len(name) > len(p.s) && equalFold(name[len(name)-len(p.s):], p.s)
	}
	return equalFold(name, p.s)
}

// allows is the allow-list rule: an empty list allows everything.
func (ps patterns) allows(name []byte) bool { return len(ps) == 0 || ps.match(name) }

// equalFold compares a name with a lower-case pattern string.
func equalFold[T string | []byte](a T, lower string) bool {
	if len(a) != len(lower) {
		return false
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// prefixes is a set of address prefixes.
type prefixes []netip.Prefix

func compilePrefixes(field string, l []string) (prefixes, error) {
	var out prefixes
	for i, s := range l {
		p, err := configs.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("policy: %s[%d]: %w", field, i, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (ps prefixes) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// u32set is a small set of Application-Ids or command codes; empty means
// any.
type u32set []uint32

func (s u32set) allows(v uint32) bool {
	if len(s) == 0 {
		return true
	}
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
