package peers

// BeginInbound records that a request received on the connection awaits
// its answer; EndInbound, that its answer was sent (or dropped). The
// router calls them; drains before DPR wait for InboundLen to reach zero.
func (c *Conn) BeginInbound() { c.inbound.Add(1) }

// EndInbound is BeginInbound's counterpart.
func (c *Conn) EndInbound() { c.inbound.Add(-1) }

// InboundLen is the number of the peer's requests on the connection still
// awaiting their answer.
func (c *Conn) InboundLen() int { return int(c.inbound.Load()) }

// QueueLen is the number of messages waiting for the connection's writer
// or being written.
func (c *Conn) QueueLen() int { return int(c.backlog.Load()) }
