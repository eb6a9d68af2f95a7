package routing

import (
	"encoding/binary"
	"sort"
	"strconv"
)

// RedirectKeys lists the redirect cache's keys, sorted, as
// "u|user", "s|session", "h|host", "ra|realm|app", "r|realm", "a|app".
func (rt *Router) RedirectKeys() []string {
	c := rt.redir
	var keys []string
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		for k := range sh.m {
			keys = append(keys, redirectKeyString(k))
		}
		sh.mu.RUnlock()
	}
	sort.Strings(keys)
	return keys
}

func redirectKeyString(k string) string {
	rest := k[1:]
	switch k[0] {
	case kindUser:
		return "u|" + rest
	case kindSession:
		return "s|" + rest
	case kindHost:
		return "h|" + rest
	case kindRealmApp:
		return "ra|" + rest[4:] + "|" + strconv.FormatUint(uint64(binary.BigEndian.Uint32([]byte(rest[:4]))), 10)
	case kindRealm:
		return "r|" + rest
	case kindApp:
		return "a|" + strconv.FormatUint(uint64(binary.BigEndian.Uint32([]byte(rest))), 10)
	}
	return "?" + k
}

// SetHooks publishes a generation like the current one with hooks h.
func (rt *Router) SetHooks(h *Hooks) {
	g := rt.gen.Load()
	opts := g.opts
	opts.Hooks = h
	rt.Update(g.table, opts)
}
