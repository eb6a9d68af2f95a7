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
