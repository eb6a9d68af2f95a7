// Command record writes the capture files the dra policy test tests read:
// Diameter requests sent over TCP on the loopback interface (127.0.0.1
// and ::1), captured by dumpcap. Run it as a user that may capture on lo
// (root, or dumpcap with its capabilities), from the repository root:
//
//	go run ./cmd/dra/testdata/record -out cmd/dra/testdata
//
// It writes lo.pcapng (interface lo: Ethernet link layer) and any.pcapng
// (interface any: Linux cooked capture v2). Each holds, in order: one CCR
// in one segment (IPv4), one CCR split over two segments, two CCRs in one
// segment, one CCR over IPv6, and one CCR split over two segments of which
// the second also holds a whole CCR.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/dra-project/dra/wire"
)

func main() {
	out := flag.String("out", "cmd/dra/testdata", "directory the capture files are written to")
	flag.Parse()
	if err := record(*out); err != nil {
		log.Fatal(err)
	}
}

func record(dir string) error {
	l4, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l4.Close()
	l6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		return err
	}
	defer l6.Close()
	p4, p6 := l4.Addr().(*net.TCPAddr).Port, l6.Addr().(*net.TCPAddr).Port
	filter := fmt.Sprintf("tcp port %d or tcp port %d", p4, p6)
	var caps []*exec.Cmd
	for _, c := range []struct{ iface, file, link string }{{"lo", "lo.pcapng", ""}, {"any", "any.pcapng", "LINUX_SLL2"}} {
		args := []string{"-q", "-i", c.iface, "-f", filter, "-w", filepath.Join(dir, c.file)}
		if c.link != "" {
			args = append(args, "-y", c.link)
		}
		cmd := exec.Command("dumpcap", args...)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		caps = append(caps, cmd)
	}
	time.Sleep(2 * time.Second) // dumpcap attaches its filter
	go serve(l4)
	go serve(l6)
	send := func(addr string, writes ...[]byte) error {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		for _, w := range writes {
			if _, err := c.Write(w); err != nil {
				return err
			}
			time.Sleep(100 * time.Millisecond) // one segment each
		}
		return nil
	}
	m1, m2, m3, m4, m5, m6, m7 := ccr(1), ccr(2), ccr(3), ccr(4), ccr(5), ccr(6), ccr(7)
	steps := []error{
		send(l4.Addr().String(), m1),
		send(l4.Addr().String(), m2[:100], m2[100:]),
		send(l4.Addr().String(), append(append([]byte(nil), m3...), m4...)),
		send(l6.Addr().String(), m5),
		send(l4.Addr().String(), m6[:100], append(append([]byte(nil), m6[100:]...), m7...)),
	}
	for _, err := range steps {
		if err != nil {
			return err
		}
	}
	time.Sleep(2 * time.Second) // libpcap hands packets over in timed blocks
	for _, c := range caps {
		c.Process.Signal(os.Interrupt)
		if err := c.Wait(); err != nil {
			return fmt.Errorf("dumpcap: %w", err)
		}
	}
	return nil
}

// serve reads and discards what clients send.
func serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() { io.Copy(io.Discard, c); c.Close() }()
	}
}

// ccr is a Credit-Control-Request with an IMSI, hop-by-hop and end-to-end
// ids n.
func ccr(n uint32) []byte {
	m := wire.NewMsg(wire.FlagRequest|wire.FlagProxiable, 272, 4, n, n)
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	str := func(code uint32, s string) []byte {
		return wire.AppendAVP(nil, code, wire.AVPFlagMandatory, 0, []byte(s))
	}
	body := str(263, fmt.Sprintf("mme.client.test;1;%d", n))
	body = append(body, str(264, "mme.client.test")...)
	body = append(body, str(296, "client.test")...)
	body = append(body, str(283, "partner.test")...)
	body = wire.AppendAVP(body, 258, wire.AVPFlagMandatory, 0, u32(4))
	body = wire.AppendAVP(body, 416, wire.AVPFlagMandatory, 0, u32(2))
	body = wire.AppendAVP(body, 415, wire.AVPFlagMandatory, 0, u32(n))
	sub := wire.AppendAVP(nil, 450, wire.AVPFlagMandatory, 0, u32(1))
	sub = wire.AppendAVP(sub, 444, wire.AVPFlagMandatory, 0, []byte("001010123456789"))
	body = wire.AppendAVP(body, 443, wire.AVPFlagMandatory, 0, sub)
	m = append(m, body...)
	m.SetLen(len(m))
	return m
}
