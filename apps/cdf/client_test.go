package cdf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"
	"github.com/fiorix/go-diameter/v4/diam/dict"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
)

// agent is the part of dra that serves the CDF on a loopback listener.
type agent struct {
	Srv  *Server
	Addr string
	m    *peers.Manager
	rt   *routing.Router
}

// startAgent builds a realm table routing lab.test locally, a router and a
// peer manager around srv.
func startAgent(srv *Server) (*agent, error) {
	table, err := realm.Build([]realm.Route{{Realm: "lab.test", AnyApp: true, Action: realm.Local}})
	if err != nil {
		return nil, err
	}
	rt := routing.New(table, routing.Options{Local: map[uint32]routing.Handler{AppID: srv}})
	m, err := peers.New(peers.Options{
		Local:         peers.Local{OriginHost: "dra.lab.test", OriginRealm: "lab.test", Relay: true, Apps: srv.Apps()},
		Listeners:     []peers.Listener{{Addr: "127.0.0.1:0"}},
		AcceptUnknown: true,
		Handler:       rt,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return nil, err
	}
	rt.Attach(m)
	if err := m.Start(); err != nil {
		return nil, err
	}
	return &agent{Srv: srv, Addr: m.Addrs()[0].String(), m: m, rt: rt}, nil
}

func (a *agent) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	a.m.Shutdown(ctx)
	a.rt.Close()
}

// client is an independent Diameter client: go-diameter's codec on a raw
// TCP connection, answers matched by Hop-by-Hop Identifier.
type client struct {
	conn    net.Conn
	wmu     sync.Mutex
	hbh     atomic.Uint32
	mu      sync.Mutex
	pending map[uint32]chan *diam.Message
	err     error
	closed  chan struct{}
}

var errConnClosed = errors.New("connection closed")

// dial connects and exchanges capabilities, advertising accounting.
func dial(addr, host string) (*client, error) {
	conn, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	cer := diam.NewRequest(diam.CapabilitiesExchange, 0, dict.Default)
	cer.Header.HopByHopID, cer.Header.EndToEndID = 1, 1
	cer.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	cer.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("client.test"))
	cer.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.ParseIP("127.0.0.1")))
	cer.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	cer.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("cdf-test"))
	cer.NewAVP(avp.AcctApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := cer.WriteTo(conn); err != nil {
		conn.Close()
		return nil, err
	}
	cea, err := diam.ReadMessage(conn, dict.Default)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("CEA: %w", err)
	}
	if rc, err := cea.FindAVP(avp.ResultCode, 0); err != nil || rc.Data.(datatype.Unsigned32) != 2001 {
		conn.Close()
		return nil, fmt.Errorf("CEA refused: %v", cea)
	}
	conn.SetDeadline(time.Time{})
	c := &client{conn: conn, pending: map[uint32]chan *diam.Message{}, closed: make(chan struct{})}
	c.hbh.Store(100)
	go c.read()
	return c, nil
}

func (c *client) read() {
	defer close(c.closed)
	for {
		m, err := diam.ReadMessage(c.conn, dict.Default)
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		if m.Header.CommandFlags&diam.RequestFlag != 0 {
			if m.Header.CommandCode == diam.DeviceWatchdog {
				a := m.Answer(2001)
				a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("client.client.test"))
				a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("client.test"))
				c.write(a)
			}
			continue
		}
		c.mu.Lock()
		ch := c.pending[m.Header.HopByHopID]
		delete(c.pending, m.Header.HopByHopID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
}

func (c *client) write(m *diam.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := m.WriteTo(c.conn)
	return err
}

// call sends req and waits for its answer.
func (c *client) call(req *diam.Message) (*diam.Message, error) {
	id := c.hbh.Add(1)
	req.Header.HopByHopID, req.Header.EndToEndID = id, id
	ch := make(chan *diam.Message, 1)
	c.mu.Lock()
	c.pending[id] = ch
	c.mu.Unlock()
	if err := c.write(req); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-c.closed:
		select {
		case a := <-ch:
			return a, nil
		default:
		}
		return nil, errConnClosed
	case <-time.After(10 * time.Second):
		return nil, errors.New("no answer")
	}
}

func (c *client) close() { c.conn.Close() }

// newClient dials a, closing the client when the test ends.
func newClient(t testing.TB, a *agent) *client {
	t.Helper()
	c, err := dial(a.Addr, "pgw.client.test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c
}
