package ocs

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"github.com/fiorix/go-diameter/v4/diam/sm"

	"github.com/dra-project/dra/peers"
	"github.com/dra-project/dra/realm"
	"github.com/dra-project/dra/routing"
)

const (
	agentHost  = "dra.lab.test"
	agentRealm = "lab.test"
	clientHost = "pgw.client.test"
)

// stack is an agent (peers + router) serving the OCS locally.
type stack struct {
	srv  *Server
	m    *peers.Manager
	rt   *routing.Router
	addr string
}

func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startAgent builds the agent pieces around a new OCS on cfg.
func startAgent(cfg Config, log *slog.Logger, listen string) (*stack, error) {
	return startAgentWith(func(orig Originator) (*Server, error) {
		return New(cfg, Identity{OriginHost: agentHost, OriginRealm: agentRealm}, orig, log)
	}, log, listen)
}

// startAgentWith builds the agent pieces around the OCS newOCS returns.
func startAgentWith(newOCS func(Originator) (*Server, error), log *slog.Logger, listen string) (*stack, error) {
	table, err := realm.Build([]realm.Route{{Realm: agentRealm, AnyApp: true, Action: realm.Local}})
	if err != nil {
		return nil, err
	}
	st := &stack{}
	st.rt = routing.New(table, routing.Options{Logger: log})
	st.srv, err = newOCS(st.rt)
	if err != nil {
		st.rt.Close()
		return nil, err
	}
	st.rt.Update(table, routing.Options{Logger: log, Local: map[uint32]routing.Handler{AppID: st.srv}})
	st.m, err = peers.New(peers.Options{
		Local:     peers.Local{OriginHost: agentHost, OriginRealm: agentRealm, Relay: true, Apps: st.srv.Apps()},
		Listeners: []peers.Listener{{Addr: listen}}, AcceptUnknown: true, Handler: st.rt, Logger: log,
	})
	if err != nil {
		st.srv.Close()
		st.rt.Close()
		return nil, err
	}
	st.rt.Attach(st.m)
	if err := st.m.Start(); err != nil {
		st.srv.Close()
		st.rt.Close()
		return nil, err
	}
	st.addr = st.m.Addrs()[0].String()
	return st, nil
}

func (st *stack) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st.m.Shutdown(ctx)
	st.rt.Close()
	st.srv.Close()
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// testConfig is DefaultConfig in lab mode on a fresh directory.
func testConfig(t testing.TB) Config {
	cfg := DefaultConfig()
	cfg.LabMode = true
	cfg.DataDir = t.TempDir()
	return cfg
}

func startStack(t testing.TB, cfg Config) *stack {
	t.Helper()
	st, err := startAgent(cfg, quietLogger(testWriter{t}), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.stop)
	return st
}

// client is a go-diameter Credit-Control client.
type client struct {
	conn    diam.Conn
	mu      sync.Mutex
	waiting map[uint32]chan *diam.Message
	hbh     atomic.Uint32
	rars    chan *diam.Message
}

func dialClient(addr, host string) (*client, error) {
	c := &client{waiting: map[uint32]chan *diam.Message{}, rars: make(chan *diam.Message, 16)}
	c.hbh.Store(uint32(time.Now().UnixNano()))
	mux := sm.New(&sm.Settings{OriginHost: datatype.DiameterIdentity(host), OriginRealm: "client.test",
		VendorID: 0, ProductName: "ocs-test", HostIPAddresses: []datatype.Address{datatype.Address(net.ParseIP("127.0.0.1"))}})
	answer := diam.HandlerFunc(func(_ diam.Conn, m *diam.Message) {
		c.mu.Lock()
		ch := c.waiting[m.Header.HopByHopID]
		delete(c.waiting, m.Header.HopByHopID)
		c.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	})
	mux.HandleIdx(diam.CommandIndex{AppID: AppID, Code: 272, Request: false}, answer)
	mux.HandleIdx(diam.CommandIndex{AppID: AppID, Code: 274, Request: false}, answer)
	mux.HandleIdx(diam.CommandIndex{AppID: AppID, Code: 258, Request: true}, diam.HandlerFunc(func(conn diam.Conn, m *diam.Message) {
		a := m.Answer(2001)
		if sid, err := m.FindAVP(avp.SessionID, 0); err == nil {
			a.InsertAVP(sid)
		}
		a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
		a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("client.test"))
		a.WriteTo(conn)
		select {
		case c.rars <- m:
		default:
		}
	}))
	go func() {
		for range mux.ErrorReports() {
		}
	}()
	cli := &sm.Client{Dict: dict.Default, Handler: mux,
		AuthApplicationID: []*diam.AVP{diam.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))}}
	conn, err := cli.DialExt("tcp", addr, 3*time.Second, nil)
	if err != nil {
		return nil, err
	}
	c.conn = conn
	return c, nil
}

func newClient(t testing.TB, addr string) *client {
	t.Helper()
	c, err := dialClient(addr, clientHost)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.conn.Close() })
	return c
}

var errTimeout = errors.New("no answer")

// send sends m and waits for its answer.
func (c *client) send(m *diam.Message, timeout time.Duration) (*diam.Message, error) {
	hbh := c.hbh.Add(1)
	m.Header.HopByHopID = hbh
	m.Header.EndToEndID = hbh
	ch := make(chan *diam.Message, 1)
	c.mu.Lock()
	c.waiting[hbh] = ch
	c.mu.Unlock()
	if _, err := m.WriteTo(c.conn); err != nil {
		return nil, err
	}
	select {
	case a := <-ch:
		return a, nil
	case <-time.After(timeout):
		c.mu.Lock()
		delete(c.waiting, hbh)
		c.mu.Unlock()
		return nil, errTimeout
	}
}

func (c *client) call(t testing.TB, m *diam.Message) *diam.Message {
	t.Helper()
	a, err := c.send(m, 10*time.Second)
	if err != nil {
		t.Fatalf("CCR: %v", err)
	}
	return a
}

// sub is a Subscription-Id.
func subAVP(typ uint32, data string) *diam.AVP {
	return diam.NewAVP(avp.SubscriptionID, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.SubscriptionIDType, avp.Mbit, 0, datatype.Enumerated(typ)),
		diam.NewAVP(avp.SubscriptionIDData, avp.Mbit, 0, datatype.UTF8String(data)),
	}})
}

// ccrMsg builds a CCR; extra AVPs follow the mandatory ones.
func ccrMsg(sid string, typ, num uint32, extra ...*diam.AVP) *diam.Message {
	m := diam.NewRequest(272, AppID, dict.Default)
	m.Header.CommandFlags |= diam.ProxiableFlag
	m.NewAVP(avp.SessionID, avp.Mbit, 0, datatype.UTF8String(sid))
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(clientHost))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("client.test"))
	m.NewAVP(avp.DestinationRealm, avp.Mbit, 0, datatype.DiameterIdentity(agentRealm))
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(AppID))
	m.NewAVP(avp.ServiceContextID, avp.Mbit, 0, datatype.UTF8String("32251@3gpp.org"))
	m.NewAVP(avp.CCRequestType, avp.Mbit, 0, datatype.Enumerated(typ))
	m.NewAVP(avp.CCRequestNumber, avp.Mbit, 0, datatype.Unsigned32(num))
	for _, a := range extra {
		m.AddAVP(a)
	}
	return m
}

func octets(code uint32, n uint64) *diam.AVP {
	return diam.NewAVP(code, avp.Mbit, 0, &diam.GroupedAVP{AVP: []*diam.AVP{
		diam.NewAVP(avp.CCTotalOctets, avp.Mbit, 0, datatype.Unsigned64(n))}})
}

func emptyRSU() *diam.AVP {
	return diam.NewAVP(avp.RequestedServiceUnit, avp.Mbit, 0, &diam.GroupedAVP{})
}

// msccReqAVP builds an MSCC for rating group rg with optional RSU and USU.
func msccReqAVP(rg uint32, rsu *diam.AVP, usedOctets uint64) *diam.AVP {
	kids := []*diam.AVP{diam.NewAVP(avp.RatingGroup, avp.Mbit, 0, datatype.Unsigned32(rg))}
	if rsu != nil {
		kids = append(kids, rsu)
	}
	if usedOctets > 0 {
		kids = append(kids, octets(avp.UsedServiceUnit, usedOctets))
	}
	return diam.NewAVP(avp.MultipleServicesCreditControl, avp.Mbit, 0, &diam.GroupedAVP{AVP: kids})
}

func requestedAction(a uint32) *diam.AVP {
	return diam.NewAVP(avp.RequestedAction, avp.Mbit, 0, datatype.Enumerated(a))
}

// resultCode returns an answer's top-level Result-Code.
func resultCode(m *diam.Message) uint32 {
	if a, err := m.FindAVP(avp.ResultCode, 0); err == nil {
		v, _ := u32(a)
		return v
	}
	return 0
}

// msccOut is one MSCC of an answer.
type msccOut struct {
	rg      uint32
	code    uint32
	granted uint64
	fui     bool
	action  uint32
}

func msccsOf(m *diam.Message) []msccOut {
	var out []msccOut
	for _, a := range m.AVP {
		if a.Code != avp.MultipleServicesCreditControl {
			continue
		}
		var o msccOut
		for _, c := range group(a) {
			switch c.Code {
			case avp.RatingGroup:
				o.rg, _ = u32(c)
			case avp.ResultCode:
				o.code, _ = u32(c)
			case avp.GrantedServiceUnit:
				su := parseServiceUnit(c)
				k, _ := su.pick()
				o.granted = su.amt[k]
			case avp.FinalUnitIndication:
				o.fui = true
				for _, f := range group(c) {
					if f.Code == avp.FinalUnitAction {
						o.action, _ = u32(f)
					}
				}
			}
		}
		out = append(out, o)
	}
	return out
}

func fmtMSCC(ms []msccOut) string { return fmt.Sprintf("%+v", ms) }
