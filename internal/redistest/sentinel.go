package redistest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// StartSentinel starts a Sentinel that monitors master under name, alone
// (quorum 1), declaring it down after 1s without answer. Its configuration
// file, which a Sentinel must be able to rewrite, is in its directory.
func StartSentinel(t testing.TB, name string, master *Server) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redistest: redis-server is not installed (%v): run test/deps.sh", err)
	}
	host, port, _ := net.SplitHostPort(master.Addr)
	return start(t, &Server{Dir: t.TempDir(), t: t, bin: bin, monitor: name + " " + host + " " + port})
}

// StartReplica starts a replica of master.
func StartReplica(t testing.TB, master *Server, opts Options) *Server {
	t.Helper()
	host, port, _ := net.SplitHostPort(master.Addr)
	opts.Args = append(opts.Args, "--replicaof", host, port)
	return Start(t, opts)
}

// sentinelConf writes the Sentinel's configuration file on first use and
// returns its path; a restart reads what the Sentinel rewrote.
func (s *Server) sentinelConf() string {
	path := filepath.Join(s.Dir, "sentinel.conf")
	if _, err := os.Stat(path); err == nil {
		return path
	}
	var name, host, port string
	fmt.Sscan(s.monitor, &name, &host, &port)
	conf := fmt.Sprintf("sentinel monitor %s %s %s 1\n"+
		"sentinel down-after-milliseconds %s 1000\n"+
		"sentinel failover-timeout %s 3000\n", name, host, port, name, name)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	return path
}
