// Command peerscale measures how many peers one agent holds: it starts the
// dra binary on loopback, opens N client peers to it (each a TCP
// connection with its own Origin-Host, CER/CEA, DWA and DPA answered), and
// reports the time to reach all-open, the agent's CPU time per peer opened,
// its resident memory per peer, and the time the agent takes to disconnect
// them all with DPR. With -leave the peers close their connections instead,
// and it reports the agent's resident memory after they have gone.
//
//	go run ./test/peerscale -n 10000
//	go run ./test/peerscale -n 10000 -leave
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fiorix/go-diameter/v4/diam"
	"github.com/fiorix/go-diameter/v4/diam/avp"
	"github.com/fiorix/go-diameter/v4/diam/datatype"

	"github.com/dra-project/dra/wire"
)

func main() {
	n := flag.Int("n", 10000, "client peers to open")
	conc := flag.Int("c", 200, "connections set up in parallel")
	bin := flag.String("dra", "", "dra binary (default: built from ./cmd/dra)")
	port := flag.Int("port", 0, "agent port on 127.0.0.1 (default: a free one)")
	flag.StringVar(&opt.logLevel, "log", "warn", "agent log level (debug, info, warn, error)")
	flag.BoolVar(&opt.leave, "leave", false, "close the peers' connections (no DPR) and report the agent's RSS after they have gone, instead of shutting the agent down with them open")
	flag.DurationVar(&opt.hold, "hold", 0, "keep the peers open this long before the next phase (to profile the agent)")
	flag.Parse()
	if err := run(*n, *conc, *bin, *port); err != nil {
		fmt.Fprintln(os.Stderr, "peerscale:", err)
		os.Exit(1)
	}
}

// opt holds the flags of the phases after the peers are open.
var opt struct {
	logLevel string
	leave    bool
	hold     time.Duration
}

func run(n, conc int, bin string, port int) error {
	dir, err := os.MkdirTemp("", "peerscale")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if bin == "" {
		bin = filepath.Join(dir, "dra")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/dra").CombinedOutput(); err != nil {
			return fmt.Errorf("build: %v\n%s", err, out)
		}
	}
	if port == 0 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := filepath.Join(dir, "dra.yaml")
	yaml := fmt.Sprintf(`identity:
  origin_host: dra.scale.test
  origin_realm: scale.test
listen:
  - address: %s
accept_unknown_peers: true
limits:
  max_connections: %d
log:
  level: %s
`, addr, n+100, opt.logLevel)
	if err := os.WriteFile(cfg, []byte(yaml), 0o644); err != nil {
		return err
	}
	var logBuf lineCounter
	cmd := exec.Command(bin, "-config", cfg)
	cmd.Stderr = &logBuf
	cmd.Stdout = &logBuf
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()
	if err := waitListening(addr, 10*time.Second); err != nil {
		return fmt.Errorf("%w\n%s", err, logBuf.String())
	}
	time.Sleep(200 * time.Millisecond)
	pid := cmd.Process.Pid
	base, err := rssKB(pid)
	if err != nil {
		return err
	}
	cpu0, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	lines0 := logBuf.Lines()

	var (
		open    atomic.Int64
		dprs    atomic.Int64
		failed  atomic.Int64
		firstEr atomic.Value
		wg      sync.WaitGroup
		sem     = make(chan struct{}, conc)
		conns   = make([]net.Conn, n)
		allDone sync.WaitGroup
	)
	start := time.Now()
	for i := range n {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, rd, err := openPeer(addr, i)
			if err != nil {
				failed.Add(1)
				firstEr.CompareAndSwap(nil, err)
				return
			}
			conns[i] = c
			open.Add(1)
			allDone.Add(1)
			go func() { defer allDone.Done(); serve(c, rd, &dprs) }()
		}()
	}
	wg.Wait()
	setup := time.Since(start)
	cpu1, err := cpuTicks(pid)
	if err != nil {
		return err
	}
	lines1 := logBuf.Lines()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%d of %d peers failed to open; first: %v", f, n, firstEr.Load())
	}
	time.Sleep(time.Second)
	rss, err := rssKB(pid)
	if err != nil {
		return err
	}
	perPeer := float64(rss-base) * 1024 / float64(n)
	fmt.Printf("peers                  %d\n", n)
	fmt.Printf("time to all-open       %s (%.0f CER/CEA per second, %d in parallel)\n", setup.Round(time.Millisecond), float64(n)/setup.Seconds(), conc)
	fmt.Printf("agent CPU per open     %.3f ms (utime+stime %.2f s for %d peers)\n", float64(cpu1-cpu0)*1000/ticksPerSecond/float64(n), float64(cpu1-cpu0)/ticksPerSecond, n)
	fmt.Printf("agent log lines/open   %.2f (level %s)\n", float64(lines1-lines0)/float64(n), opt.logLevel)
	fmt.Printf("agent RSS idle         %.1f MiB\n", float64(base)/1024)
	fmt.Printf("agent RSS with peers   %.1f MiB\n", float64(rss)/1024)
	fmt.Printf("agent memory per peer  %.1f KiB\n", perPeer/1024)
	if opt.hold > 0 {
		fmt.Printf("holding                %s (agent pid %d)\n", opt.hold, pid)
		time.Sleep(opt.hold)
	}
	if opt.leave {
		return leave(cmd, pid, conns, &allDone, rss)
	}
	stopStart := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	exitErr := cmd.Wait()
	stop := time.Since(stopStart)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	allDone.Wait()
	fmt.Printf("DPR received           %d of %d\n", dprs.Load(), n)
	fmt.Printf("shutdown (DPR to all)  %s, exit: %v\n", stop.Round(time.Millisecond), exitStatus(exitErr))
	if dprs.Load() != int64(n) {
		return errors.New("not every peer received a DPR on shutdown")
	}
	return nil
}

// leave closes every peer's connection without DPR, waits for the agent
// to have closed its side, and reports its RSS as time passes.
func leave(cmd *exec.Cmd, pid int, conns []net.Conn, allDone *sync.WaitGroup, rss int64) error {
	fds0, err := openFDs(pid)
	if err != nil {
		return err
	}
	start := time.Now()
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	allDone.Wait()
	// The agent holds one descriptor per connection: wait until they are
	// gone (within a few descriptors of its own).
	for {
		fds, err := openFDs(pid)
		if err != nil {
			return err
		}
		if fds < 64 {
			break
		}
		if time.Since(start) > time.Minute {
			return fmt.Errorf("agent still holds %d of %d descriptors a minute after the peers left", fds, fds0)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Printf("peers gone             %s\n", time.Since(start).Round(time.Millisecond))
	for _, at := range []time.Duration{time.Second, 5 * time.Second, 15 * time.Second} {
		time.Sleep(time.Until(start.Add(at)))
		now, err := rssKB(pid)
		if err != nil {
			return err
		}
		fmt.Printf("agent RSS %2ds after   %.1f MiB (%.0f%% of the peak)\n", int(at/time.Second), float64(now)/1024, float64(now)*100/float64(rss))
	}
	cmd.Process.Signal(syscall.SIGTERM)
	fmt.Printf("agent exit             %s\n", exitStatus(cmd.Wait()))
	return nil
}

// ticksPerSecond is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
// (100 on Linux).
const ticksPerSecond = 100

// cpuTicks returns utime+stime of a process (all threads) in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may contain spaces: fields
	// are counted from the last ')'. utime and stime are fields 14 and 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unreadable /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, err
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, err
	}
	return ut + st, nil
}

// openFDs counts a process's open file descriptors.
func openFDs(pid int) (int, error) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(es), err
}

// lineCounter collects the agent's output and counts its lines.
type lineCounter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines int
}

func (l *lineCounter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines += bytes.Count(p, []byte{'\n'})
	if l.buf.Len() < 1<<20 {
		l.buf.Write(p) // enough to show why the agent failed
	}
	return len(p), nil
}

// Lines is the number of lines written so far.
func (l *lineCounter) Lines() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lines
}

func (l *lineCounter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func exitStatus(err error) string {
	if err == nil {
		return "0"
	}
	return err.Error()
}

func waitListening(addr string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("agent not listening on %s", addr)
}

// openPeer connects as client peer i and completes CER/CEA.
func openPeer(addr string, i int) (net.Conn, *wire.Reader, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	host := fmt.Sprintf("c%06d.scale.test", i)
	m := diam.NewRequest(diam.CapabilitiesExchange, 0, nil)
	m.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity(host))
	m.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("scale.test"))
	m.NewAVP(avp.HostIPAddress, avp.Mbit, 0, datatype.Address(net.IPv4(127, 0, 0, 1)))
	m.NewAVP(avp.VendorID, avp.Mbit, 0, datatype.Unsigned32(0))
	m.NewAVP(avp.ProductName, 0, 0, datatype.UTF8String("peerscale"))
	m.NewAVP(avp.AuthApplicationID, avp.Mbit, 0, datatype.Unsigned32(4))
	if _, err := m.WriteTo(c); err != nil {
		c.Close()
		return nil, nil, err
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	rd := wire.NewReader(bufio.NewReaderSize(c, 1024), 1<<16)
	cea, err := rd.Next()
	if err != nil {
		c.Close()
		return nil, nil, fmt.Errorf("%s: CEA: %w", host, err)
	}
	rc, ok := cea.Find(wire.AVPResultCode, 0)
	if v, _ := rc.Uint32(); !ok || v != wire.ResultSuccess {
		c.Close()
		return nil, nil, fmt.Errorf("%s: CEA Result-Code %d", host, v)
	}
	c.SetReadDeadline(time.Time{})
	return c, rd, nil
}

// serve answers DWR and DPR until the connection ends.
func serve(c net.Conn, rd *wire.Reader, dprs *atomic.Int64) {
	for {
		m, err := rd.Next()
		if err != nil {
			return
		}
		if !m.IsRequest() || m.AppID() != 0 {
			continue
		}
		cmd := m.Code()
		if cmd == wire.CmdDisconnectPeer {
			dprs.Add(1)
		}
		if cmd != wire.CmdDeviceWatchdog && cmd != wire.CmdDisconnectPeer {
			continue
		}
		a := diam.NewMessage(cmd, 0, 0, m.HopByHop(), m.EndToEnd(), nil)
		a.NewAVP(avp.ResultCode, avp.Mbit, 0, datatype.Unsigned32(2001))
		a.NewAVP(avp.OriginHost, avp.Mbit, 0, datatype.DiameterIdentity("peer.scale.test"))
		a.NewAVP(avp.OriginRealm, avp.Mbit, 0, datatype.DiameterIdentity("scale.test"))
		a.WriteTo(c)
	}
}

// rssKB reads VmRSS of a process from /proc.
func rssKB(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no VmRSS")
}
