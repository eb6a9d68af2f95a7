package agent

import (
	"log/slog"
	"sync/atomic"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/wire"
)

// handler serves application messages while the agent has no routing table:
// every request is answered DIAMETER_UNABLE_TO_DELIVER (3002), so no request
// goes unanswered, and answers (the agent sent no request) are discarded and
// counted.
type handler struct {
	local     *peers.Local
	log       *slog.Logger
	answered  atomic.Uint64
	discarded atomic.Uint64
}

func newHandler(l *peers.Local, log *slog.Logger) *handler { return &handler{local: l, log: log} }

func (h *handler) HandleMessage(p *peers.Peer, c *peers.Conn, m wire.Msg) {
	defer wire.PutBuf(m)
	if !m.IsRequest() {
		h.discarded.Add(1)
		return
	}
	ans := wire.ErrorAnswer(m, wire.ErrorSpec{
		OriginHost: h.local.OriginHost, OriginRealm: h.local.OriginRealm,
		ResultCode: wire.ResultUnableToDeliver, Message: "no route to a server for this request",
	})
	if err := c.Send(ans); err == nil {
		h.answered.Add(1)
	}
}

func (h *handler) PeerDown(*peers.Peer, *peers.Conn) {}
