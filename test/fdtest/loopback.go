package fdtest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// freeDiameter 1.2.1 silently drops loopback addresses from ListenOn (its
// endpoint filter rejects 127/8 and ::1), so a node configured with
// ListenOn = "127.0.0.1" binds its servers to 0.0.0.0 and [::]. To keep every
// socket of a test on the loopback interface, freeDiameterd runs with a small
// LD_PRELOAD library that rewrites wildcard bind() addresses to the loopback
// address of the same family and refuses bind(), connect(), sendto() and
// sendmsg() towards any non-loopback address (which also keeps the resolver
// from querying a name server when an identity would otherwise be looked up).
const loopbackShimSource = `/* fdtest loopback guard: keep freeDiameterd on the loopback interface. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int is_loopback(const struct sockaddr *sa, socklen_t len) {
	if (sa == NULL) return 1;
	if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)(const void *)sa;
		return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
	}
	if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)(const void *)sa;
		if (IN6_IS_ADDR_LOOPBACK(&s->sin6_addr)) return 1;
		if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) return s->sin6_addr.s6_addr[12] == 127;
		return 0;
	}
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) return 0;
	return 1; /* AF_UNIX, AF_UNSPEC, AF_NETLINK, ... */
}

static void note(const char *what) {
	static const char pre[] = "fdtest loopback guard: refused ";
	static const char post[] = " to a non-loopback address\n";
	ssize_t r;
	r = write(2, pre, sizeof pre - 1);
	r = write(2, what, strlen(what));
	r = write(2, post, sizeof post - 1);
	(void)r;
}

int bind(int fd, const struct sockaddr *sa, socklen_t len) {
	static int (*real)(int, const struct sockaddr *, socklen_t);
	if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "bind");
	if (sa && sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
		struct sockaddr_in s;
		memcpy(&s, sa, sizeof s);
		if (s.sin_addr.s_addr == htonl(INADDR_ANY)) {
			s.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return real(fd, (const struct sockaddr *)&s, sizeof s);
		}
	} else if (sa && sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
		struct sockaddr_in6 s;
		memcpy(&s, sa, sizeof s);
		if (IN6_IS_ADDR_UNSPECIFIED(&s.sin6_addr)) {
			s.sin6_addr = in6addr_loopback;
			return real(fd, (const struct sockaddr *)&s, sizeof s);
		}
	}
	if (!is_loopback(sa, len)) { note("bind()"); errno = EADDRNOTAVAIL; return -1; }
	return real(fd, sa, len);
}

int connect(int fd, const struct sockaddr *sa, socklen_t len) {
	static int (*real)(int, const struct sockaddr *, socklen_t);
	if (!real) real = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
	if (!is_loopback(sa, len)) { note("connect()"); errno = ENETUNREACH; return -1; }
	return real(fd, sa, len);
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *sa, socklen_t len) {
	static ssize_t (*real)(int, const void *, size_t, int, const struct sockaddr *, socklen_t);
	if (!real) real = (ssize_t (*)(int, const void *, size_t, int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "sendto");
	if (sa && !is_loopback(sa, len)) { note("sendto()"); errno = ENETUNREACH; return -1; }
	return real(fd, buf, n, flags, sa, len);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags) {
	static ssize_t (*real)(int, const struct msghdr *, int);
	if (!real) real = (ssize_t (*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	if (m && m->msg_name && !is_loopback((const struct sockaddr *)m->msg_name, m->msg_namelen)) {
		note("sendmsg()"); errno = ENETUNREACH; return -1;
	}
	return real(fd, m, flags);
}
`

var (
	shimOnce sync.Once
	shimPath string
	shimErr  error
)

// CC is the C compiler used to build the loopback guard library.
var CC = "cc"

// loopbackShim builds (once per process, cached across processes in the
// user cache directory) the LD_PRELOAD library and returns its path.
func loopbackShim() (string, error) {
	shimOnce.Do(func() { shimPath, shimErr = buildShim() })
	return shimPath, shimErr
}

func buildShim() (string, error) {
	sum := sha256.Sum256([]byte(loopbackShimSource))
	name := "loopback-" + hex.EncodeToString(sum[:8]) + ".so"
	base, err := os.UserCacheDir()
	if err != nil || base == "" {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "dra-fdtest")
	out := filepath.Join(dir, name)
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	src := filepath.Join(tmp, "loopback.c")
	if err := os.WriteFile(src, []byte(loopbackShimSource), 0o644); err != nil {
		return "", err
	}
	so := filepath.Join(tmp, name)
	cmd := exec.Command(CC, "-shared", "-fPIC", "-O2", "-Wall", "-o", so, src, "-ldl")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("fdtest: building the loopback guard with %s: %v\n%s", CC, err, b)
	}
	// Atomic publish: concurrent test processes may race here; any winner is fine.
	if err := os.Rename(so, out); err != nil {
		return "", err
	}
	return out, nil
}
