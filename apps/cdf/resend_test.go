package cdf

import (
	"bytes"
	"testing"

	"github.com/fiorix/go-diameter/v4/diam"
)

// TestResendAfterKill: a client resends (T flag) the ACRs whose answers a
// crash kept from it. After SIGKILL and a restart on the same data
// directory, a resent INTERIM, STOP and EVENT get the first ACA and write
// no second CDR: the (Session-Id, Accounting-Record-Number) dedupe is
// rebuilt from the journal.
func TestResendAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	dir := t.TempDir()
	p := startProcess(t, dir)
	c, err := dial(p.addr, "pgw.client.test")
	if err != nil {
		t.Fatal(err)
	}
	resent := func(m *diam.Message) *diam.Message {
		m.Header.CommandFlags |= diam.RetransmittedFlag
		return m
	}
	call := func(c *client, m *diam.Message) *diam.Message {
		t.Helper()
		a, err := c.call(m)
		if err != nil {
			t.Fatal(err)
		}
		if code := resultCode(t, a); code != 2001 {
			t.Fatalf("ACR %d: %d", m.Header.CommandCode, code)
		}
		return a
	}
	canonical := func(m *diam.Message) []byte {
		b, err := m.Serialize()
		if err != nil {
			t.Fatal(err)
		}
		clear(b[12:20])
		return b
	}
	call(c, newACR("s;open", StartRecord, 0))
	interim := call(c, newACR("s;open", InterimRecord, 1))
	call(c, resent(newACR("s;open", InterimRecord, 1)))
	call(c, newACR("s;done", StartRecord, 0))
	stop := call(c, newACR("s;done", StopRecord, 1))
	event := call(c, newACR("s;ev", EventRecord, 0))
	c.close()
	p.kill()

	p = startProcess(t, dir)
	c, err = dial(p.addr, "pgw.client.test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		req   *diam.Message
		first *diam.Message
	}{
		{"INTERIM", newACR("s;open", InterimRecord, 1), interim},
		{"STOP", newACR("s;done", StopRecord, 1), stop},
		{"EVENT", newACR("s;ev", EventRecord, 0), event},
	} {
		if a := call(c, resent(tc.req)); !bytes.Equal(canonical(a), canonical(tc.first)) {
			t.Errorf("%s resent after the restart: %v, want %v", tc.name, a, tc.first)
		}
	}
	c.close()
	p.kill()
	count := map[recordKey]int{}
	for _, r := range readAll(t, dir) {
		count[recordKey{r.SessionID, r.RecordNumber}]++
	}
	if len(count) != 5 {
		t.Errorf("CDRs %v, want 5 records", count)
	}
	for k, n := range count {
		if n != 1 {
			t.Errorf("%s #%d written %d times", k.sid, k.num, n)
		}
	}
}
