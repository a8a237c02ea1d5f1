// Package devnet runs a local network of real `metanode run` processes
// on loopback, each with its home under DIR/node-<i>, and plays their
// chain (devchain) in the calling process, until the Bitcoin adapter
// replaces it. The network starts on the built-in test key of its
// committee (5/2, 7/4 or 10/6), named as a test key everywhere.
//
// With Replicas = 3, node-0 is an HA node of three replica processes
// (homes node-0, node-0b, node-0c: the same identity, passphrase and
// shares, each its own log, raft directory and ports), of which raft's
// leader runs the node; the other nodes list every replica's p2p address
// for node-0.
package devnet

import (
	"context"
	"errors"
	"fmt"
	stdnet "net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/metanode/metanode/chain/devchain"
	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/node/daemon"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/testkeys"
)

// Config describes a devnet.
type Config struct {
	Nodes     int
	Threshold int // 0: the test key's (5/2, 7/4, 10/6)
	Dir       string
	// Binary is the metanode executable the nodes run.
	Binary string
	// BasePort: node i listens for p2p on BasePort+i, its REST API on
	// BasePort+100+i and its metrics on BasePort+200+i; the chain on
	// BasePort+300.
	BasePort     int
	DepositEvery time.Duration
	// Tune, if set, changes the genesis parameters (tests shorten rounds).
	Tune func(*events.Params)
	// Env is added to every node's environment.
	Env []string
	// Byzantine: node index -> behaviour (METANODE_DEVNET_BYZANTINE).
	Byzantine map[int]string
	// Replicas: 0 or 1, node-0 is one process; 3 (or more), node-0 runs
	// as that many HA replicas. The extra replicas are Nodes[Nodes:]; the
	// raft of replica k listens on BasePort+320+k.
	Replicas int
}

// MaxReplicas bounds Config.Replicas (their raft ports stay within the
// devnet's block of 400).
const MaxReplicas = 7

// TestKeyThreshold is the threshold of the built-in test key of a committee.
func TestKeyThreshold(n int) (int, bool) {
	t, ok := map[int]int{5: 2, 7: 4, 10: 6}[n]
	return t, ok
}

// Node is one devnet node's process: a node, or one replica of node-0.
type Node struct {
	Index   int    // the node's (every replica of node-0 has 0)
	Name    string // node-<i>, or node-0b, node-0c... for node-0's further replicas
	Home    string
	RaftID  string // the replica's raft id ("" unless node-0 has replicas)
	Raft    string // its raft address
	Peer    peer.ID
	P2P     string // full multiaddr
	REST    string // host:port
	Metrics string
	StakeTx string
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
	logFile *os.File
}

// Devnet is a running devnet.
type Devnet struct {
	cfg      Config
	Nodes    []*Node
	Genesis  daemon.Genesis
	Chain    *devchain.Server
	ChainURL string

	chainServer *http.Server
	cancel      context.CancelFunc
	mu          sync.Mutex
}

// Setup writes every node's home, the genesis and the test key's shares.
// Dir must not hold an earlier devnet.
func Setup(cfg Config) (*Devnet, error) {
	threshold, ok := TestKeyThreshold(cfg.Nodes)
	if !ok {
		return nil, fmt.Errorf("devnet: %d nodes: the built-in test keys are for committees of 5, 7 and 10", cfg.Nodes)
	}
	if cfg.Threshold != 0 && cfg.Threshold != threshold {
		return nil, fmt.Errorf("devnet: threshold %d: the test key of %d nodes has t=%d", cfg.Threshold, cfg.Nodes, threshold)
	}
	cfg.Threshold = threshold
	if cfg.Replicas == 1 {
		cfg.Replicas = 0
	}
	if cfg.Replicas != 0 && (cfg.Replicas < 3 || cfg.Replicas > MaxReplicas) {
		return nil, fmt.Errorf("devnet: %d replicas of node-0: want 3 to %d (fewer than 3 tolerate no failure)", cfg.Replicas, MaxReplicas)
	}
	if cfg.BasePort == 0 {
		cfg.BasePort = 27100
	}
	if cfg.DepositEvery == 0 {
		cfg.DepositEvery = 20 * time.Second
	}
	if entries, err := os.ReadDir(cfg.Dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("devnet: %s holds an earlier devnet: pass --fresh to start a new one", cfg.Dir)
	}
	for _, port := range ports(cfg) {
		if err := portFree(port); err != nil {
			return nil, err
		}
	}
	keys, err := testkeys.Load(testkeys.FS, cfg.Nodes, cfg.Threshold)
	if err != nil {
		return nil, fmt.Errorf("devnet: test keys: %w", err)
	}
	d := &Devnet{cfg: cfg}
	identities := make([]crypto.PrivKey, cfg.Nodes)
	parties := make([]tss.Party, cfg.Nodes)
	for i := range cfg.Nodes {
		key, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			return nil, err
		}
		identities[i] = key
		id, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return nil, err
		}
		d.Nodes = append(d.Nodes, &Node{
			Index: i, Name: fmt.Sprintf("node-%d", i), Home: filepath.Join(cfg.Dir, fmt.Sprintf("node-%d", i)), Peer: id,
			P2P:     fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", cfg.BasePort+i, id),
			REST:    fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+100+i),
			Metrics: fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+200+i),
			StakeTx: fmt.Sprintf("devnet-stake-%d", i),
		})
		parties[i] = tss.Party{Peer: events.PeerID(id), Key: keys[i].ShareID}
	}
	for k := range cfg.Replicas {
		if k > 0 { // node-0's further replicas: the same peer, their own ports
			j := cfg.Nodes + k - 1
			name := fmt.Sprintf("node-0%c", 'a'+k)
			d.Nodes = append(d.Nodes, &Node{
				Index: 0, Name: name, Home: filepath.Join(cfg.Dir, name), Peer: d.Nodes[0].Peer,
				P2P:     fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", cfg.BasePort+j, d.Nodes[0].Peer),
				REST:    fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+100+j),
				Metrics: fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+200+j),
				StakeTx: d.Nodes[0].StakeTx,
			})
		}
	}
	replicas := d.Replicas()
	for k, j := range replicas {
		d.Nodes[j].RaftID, d.Nodes[j].Raft = d.Nodes[j].Name, fmt.Sprintf("127.0.0.1:%d", cfg.BasePort+320+k)
	}
	key, err := tss.PublishKey(&keys[0], parties, cfg.Threshold)
	if err != nil {
		return nil, err
	}
	key.Address = "devnet-vault (test key)"
	d.Genesis = daemon.GenesisOf(Params(cfg), key)
	d.Genesis.Comment = fmt.Sprintf("A devnet: [key] is the built-in TEST KEY of a committee of %d (tss/testkeys).\n"+
		"Every share of it is public: it secures nothing, and no real network may start on it.", cfg.Nodes)
	d.ChainURL = fmt.Sprintf("http://127.0.0.1:%d", cfg.BasePort+300)
	var pass0 []byte // node-0's passphrase, its replicas' too
	for j, n := range d.Nodes {
		i := n.Index
		conf := daemon.DefaultConfig()
		conf.P2P.Moniker = fmt.Sprintf("node-%d", i)
		conf.P2P.Listen = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", cfg.BasePort+j)}
		for _, other := range d.Nodes {
			if other.Index != i { // every replica's address of node-0
				conf.P2P.Peers = append(conf.P2P.Peers, other.P2P)
			}
		}
		conf.REST.Listen, conf.Metrics.Listen = n.REST, n.Metrics
		conf.Chain.URL, conf.Chain.StakeTx = d.ChainURL, n.StakeTx
		conf.TSS.PreParamsPool = 0 // the test key's set is in the pool; no background generation
		if n.RaftID != "" {
			conf.Raft.ID, conf.Raft.Bind = n.RaftID, n.Raft
			for _, r := range replicas {
				if other := d.Nodes[r]; other != n {
					conf.Raft.Replicas = append(conf.Raft.Replicas, other.RaftID+"@"+other.Raft)
				}
			}
		}
		opts := daemon.InitOptions{Config: conf, Genesis: &d.Genesis, Identity: identities[i]}
		if i == 0 && n != d.Nodes[0] {
			opts.Passphrase = pass0
		}
		if _, err := daemon.Init(n.Home, opts); err != nil {
			return nil, fmt.Errorf("%s: %w", n.Name, err)
		}
		if opts.Passphrase != nil {
			if err := os.WriteFile(filepath.Join(n.Home, conf.TSS.PassphraseFile), append(slices.Clone(pass0), '\n'), 0o600); err != nil {
				return nil, err
			}
		}
		pass, err := daemon.Passphrase(n.Home, conf)
		if err != nil {
			return nil, err
		}
		if n == d.Nodes[0] {
			pass0 = pass
		}
		store, err := tss.OpenShareStore(filepath.Join(n.Home, daemon.SharesDir), pass, tss.ShareStoreOptions{Peer: events.PeerID(n.Peer), KDF: conf.TSS.KDF()})
		if err != nil {
			return nil, err
		}
		if err := store.Save(key.KeyID, &keys[i]); err != nil {
			return nil, err
		}
		if err := store.PutPreParams(&keys[i].LocalPreParams); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	var stakes []devchain.Stake
	for i, n := range d.Nodes[:cfg.Nodes] {
		// node 0 is the most senior: stakes an hour apart, all old enough
		stakes = append(stakes, devchain.Stake{Peer: events.PeerID(n.Peer), Tx: n.StakeTx, Amount: 100,
			ConfirmedAt: now.Add(-100*time.Hour - time.Duration(cfg.Nodes-i)*time.Hour)})
	}
	d.Chain = devchain.New(devchain.Config{Stakes: stakes, VaultKey: key.PublicKey, DepositEvery: cfg.DepositEvery,
		Confirmations: d.Genesis.Confirmations, Seed: uint64(now.UnixNano())})
	return d, nil
}

// Params are a devnet's protocol parameters: PROTOCOL.md's, the key
// locked from the start, refunds after 10 minutes, cheap intent proofs
// of work and a chain settle time for a chain on the same machine.
func Params(cfg Config) events.Params {
	p := events.DefaultParams(cfg.Nodes, cfg.Threshold)
	p.Network = "devnet"
	p.KeygenUntil = events.TimeOf(time.Now().UTC().Truncate(time.Second))
	p.RefundAfter = 10 * time.Minute
	p.IntentPoWTime, p.IntentPoWMemoryKiB, p.IntentPoWBits, p.IntentsPerPeer = 1, 64, 4, 64
	p.ChainSettle = 3 * time.Second
	if cfg.Tune != nil {
		cfg.Tune(&p)
	}
	return p
}

func ports(cfg Config) []int {
	var out []int
	for i := range cfg.Nodes + max(cfg.Replicas-1, 0) {
		out = append(out, cfg.BasePort+i, cfg.BasePort+100+i, cfg.BasePort+200+i)
	}
	for k := range cfg.Replicas {
		out = append(out, cfg.BasePort+320+k)
	}
	return append(out, cfg.BasePort+300)
}

// Replicas are the indexes in Nodes of node-0's replicas (0 first), or
// none when node-0 is one process.
func (d *Devnet) Replicas() []int {
	if d.cfg.Replicas == 0 {
		return nil
	}
	out := []int{0}
	for j := d.cfg.Nodes; j < len(d.Nodes); j++ {
		out = append(out, j)
	}
	return out
}

func portFree(port int) error {
	l, err := stdnet.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("devnet: port %d is in use (choose other ports with --base-port)", port)
	}
	return l.Close()
}

// Start serves the chain and starts every node.
func (d *Devnet) Start(ctx context.Context) error {
	l, err := stdnet.Listen("tcp", d.ChainURL[len("http://"):])
	if err != nil {
		return fmt.Errorf("devnet chain: %w", err)
	}
	ctx, d.cancel = context.WithCancel(ctx)
	d.chainServer = &http.Server{Handler: d.Chain.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.chainServer.Serve(l) }()
	go func() { _ = d.Chain.Run(ctx) }()
	for i := range d.Nodes {
		if err := d.StartNode(i); err != nil {
			return err
		}
	}
	return nil
}

// StartNode starts node i's process; its output goes to HOME/node.log.
func (d *Devnet) StartNode(i int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := d.Nodes[i]
	if n.cmd != nil && !n.exitedNow() {
		return fmt.Errorf("%s is running", n.Name)
	}
	logFile, err := os.OpenFile(filepath.Join(n.Home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(d.cfg.Binary, "run", "--home", n.Home)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "METANODE_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, d.cfg.Env...)
	if b, ok := d.cfg.Byzantine[i]; ok {
		cmd.Env = append(cmd.Env, "METANODE_DEVNET_BYZANTINE="+b)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // Ctrl-C reaches the devnet, which stops the nodes
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("%s: %w", n.Name, err)
	}
	n.cmd, n.logFile, n.exited, n.exitErr = cmd, logFile, make(chan struct{}), nil
	go func(n *Node, cmd *exec.Cmd, exited chan struct{}) {
		err := cmd.Wait()
		n.exitErr = err
		n.logFile.Close()
		close(exited)
	}(n, cmd, n.exited)
	return nil
}

func (n *Node) exitedNow() bool {
	select {
	case <-n.exited:
		return true
	default:
		return false
	}
}

// Exited reports whether node i's process has ended, and how.
func (d *Devnet) Exited(i int) (bool, error) {
	n := d.Nodes[i]
	if n.cmd == nil {
		return true, nil
	}
	if n.exitedNow() {
		return true, n.exitErr
	}
	return false, nil
}

// Kill ends node i's process with SIGKILL: no clean stop.
func (d *Devnet) Kill(i int) error {
	n := d.Nodes[i]
	if n.cmd == nil {
		return errors.New("not started")
	}
	if err := n.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-n.exited
	return nil
}

// StopNode ends node i with SIGTERM and waits (up to timeout) for it to
// stop cleanly; then kills it.
func (d *Devnet) StopNode(i int, timeout time.Duration) error {
	n := d.Nodes[i]
	if n.cmd == nil || n.exitedNow() {
		return nil
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
		return n.exitErr
	case <-time.After(timeout):
		_ = n.cmd.Process.Kill()
		<-n.exited
		return fmt.Errorf("%s did not stop within %v: killed", n.Name, timeout)
	}
}

// Stop stops every node cleanly and the chain.
func (d *Devnet) Stop() error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := range d.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := d.StopNode(i, 20*time.Second); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", d.Nodes[i].Name, err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if d.cancel != nil {
		d.cancel()
	}
	if d.chainServer != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = d.chainServer.Shutdown(ctx)
		cancel()
	}
	return errors.Join(errs...)
}

// LogTail is the end of node i's output, for error reports.
func (d *Devnet) LogTail(i int, max int) string {
	data, err := os.ReadFile(filepath.Join(d.Nodes[i].Home, "node.log"))
	if err != nil {
		return err.Error()
	}
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}

// Started reports whether node i's process was ever started.
func (d *Devnet) Started(i int) bool { return d.Nodes[i].cmd != nil }
