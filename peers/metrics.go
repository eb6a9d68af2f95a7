package peers

// QueueLen is the number of messages waiting for the connection's writer.
func (c *Conn) QueueLen() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue)
}
