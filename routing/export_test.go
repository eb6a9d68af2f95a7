package routing

import "sort"

// RedirectKeys lists the redirect cache's keys, sorted.
func (rt *Router) RedirectKeys() []string {
	c := rt.redir
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.m))
	for k := range c.m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// SetHooks publishes a generation like the current one with hooks h.
func (rt *Router) SetHooks(h *Hooks) {
	g := rt.gen.Load()
	opts := g.opts
	opts.Hooks = h
	rt.Update(g.table, opts)
}
