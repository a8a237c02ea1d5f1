package ha

import (
	"errors"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// tcpLayer is raft's TCP stream layer with a switch that cuts the replica
// off from the others (Replica.Isolate): a partition, for tests and
// drills, on the real transport.
type tcpLayer struct {
	net.Listener
	advertise net.Addr

	mu       sync.Mutex
	isolated bool
	conns    map[net.Conn]struct{}
}

var errIsolated = errors.New("replica isolated")

func newTCPLayer(bind string) (*tcpLayer, error) {
	l, err := net.Listen("tcp", bind)
	if err != nil {
		return nil, err
	}
	return &tcpLayer{Listener: l, advertise: l.Addr(), conns: map[net.Conn]struct{}{}}, nil
}

func (t *tcpLayer) Addr() net.Addr { return t.advertise }

func (t *tcpLayer) Accept() (net.Conn, error) {
	for {
		c, err := t.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c = t.track(c); c != nil {
			return c, nil
		}
	}
}

func (t *tcpLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	t.mu.Lock()
	isolated := t.isolated
	t.mu.Unlock()
	if isolated {
		return nil, errIsolated
	}
	c, err := net.DialTimeout("tcp", string(address), timeout)
	if err != nil {
		return nil, err
	}
	if c = t.track(c); c == nil {
		return nil, errIsolated
	}
	return c, nil
}

// track keeps a connection to cut at isolation; nil: isolated now.
func (t *tcpLayer) track(c net.Conn) net.Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.isolated {
		c.Close()
		return nil
	}
	tc := &trackedConn{Conn: c, layer: t}
	t.conns[tc] = struct{}{}
	return tc
}

func (t *tcpLayer) isolate(on bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.isolated = on
	if on {
		for c := range t.conns {
			c.(*trackedConn).Conn.Close()
			delete(t.conns, c)
		}
	}
}

type trackedConn struct {
	net.Conn
	layer *tcpLayer
}

func (c *trackedConn) Close() error {
	c.layer.mu.Lock()
	delete(c.layer.conns, c)
	c.layer.mu.Unlock()
	return c.Conn.Close()
}
