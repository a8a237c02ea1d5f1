// Package daemon is `metanode run`: the node on the wall clock, over
// libp2p, with its operator's config, REST API and metrics.
package daemon

import (
	"errors"
	"fmt"
	stdnet "net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/metanode/metanode/ha"
	"github.com/metanode/metanode/tss"
)

// Files of a node's home directory.
const (
	ConfigFile     = "config.toml"
	GenesisFile    = "genesis.toml"
	IdentityFile   = "identity.key"
	PassphraseFile = "passphrase"
	SharesDir      = "shares"
)

// Config is an operator's config.toml. Names follow what Swingby's
// operators know where there is an equivalent.
type Config struct {
	P2P     P2PConfig     `toml:"p2p"`
	REST    RESTConfig    `toml:"rest"`
	Metrics MetricsConfig `toml:"metrics"`
	Log     LogConfig     `toml:"log"`
	TSS     TSSConfig     `toml:"tss"`
	Chain   ChainConfig   `toml:"chain"`
	Raft    RaftConfig    `toml:"raft"`
}

// P2PConfig is the node's libp2p host.
type P2PConfig struct {
	Moniker string   `toml:"moniker"`
	Listen  []string `toml:"listen"` // multiaddrs
	Peers   []string `toml:"peers"`  // static peers: multiaddrs ending in /p2p/<peer id>
}

// RESTConfig is the read-only REST API.
type RESTConfig struct {
	Listen string `toml:"listen"` // host:port; empty: off
}

// MetricsConfig is the Prometheus endpoint.
type MetricsConfig struct {
	Listen string `toml:"listen"` // host:port; empty: off
}

// LogConfig is the node's own log output (not its event log).
type LogConfig struct {
	Level  string `toml:"level"`  // debug, info, warn, error
	Format string `toml:"format"` // json, text, or auto (json unless stderr is a terminal)
}

// TSSConfig is where the node's secrets come from.
type TSSConfig struct {
	// PassphraseFile (mode 0600) unlocks the identity key and the share
	// store; METANODE_PASSPHRASE overrides it. Relative to the home.
	PassphraseFile string `toml:"passphrase_file"`
	// PreParamsPool: pre-parameter sets kept ready for keygen and
	// resharing (generated in the background, 2-30 s each).
	PreParamsPool int `toml:"preparams_pool"`
	// Argon2Time, Argon2MemoryKiB and Argon2Threads are argon2id's cost
	// for the sealed files the node writes (shares, the identity key,
	// pre-parameters): at least RFC 9106's second recommendation (t=3,
	// 64 MiB, p=4), the default. Each file keeps the cost it was written
	// with in its header, so raising them never locks an old file out.
	Argon2Time      uint32 `toml:"argon2_time"`
	Argon2MemoryKiB uint32 `toml:"argon2_memory_kib"`
	Argon2Threads   uint32 `toml:"argon2_threads"`
}

// KDF is the argon2id cost the settings ask for.
func (c TSSConfig) KDF() tss.KDFParams {
	return tss.KDFParams{Time: c.Argon2Time, MemoryKiB: c.Argon2MemoryKiB, Threads: c.Argon2Threads}
}

// ChainConfig is the chain the node watches and broadcasts to.
type ChainConfig struct {
	Kind    string `toml:"kind"`     // "devnet": the devnet's chain service
	URL     string `toml:"url"`      // the chain service's address
	StakeTx string `toml:"stake_tx"` // this node's stake, announced in its pings
}

// RaftConfig makes the node one of several replicas of itself (HA,
// DESIGN.md point 5): hashicorp/raft replicates its event log, and only
// the replica raft elects runs the node. Empty: a single node.
type RaftConfig struct {
	ID   string `toml:"id"`   // this replica's raft id
	Bind string `toml:"bind"` // host:port of its raft transport, reachable by the others
	// Replicas are the node's other replicas as "id@host:port", each with
	// its own home (the same identity.key, passphrase and shares/).
	Replicas []string `toml:"replicas"`
}

// MinOtherReplicas: a replica needs two others. With one, raft's
// majority is both, so losing either stops the node: no fault tolerance,
// only a second machine to lose.
const MinOtherReplicas = 2

// Enabled says whether [raft] is set at all.
func (c RaftConfig) Enabled() bool { return c.ID != "" || c.Bind != "" || len(c.Replicas) > 0 }

// Members parses Replicas (Validate has checked them).
func (c RaftConfig) Members() []ha.Member {
	out := make([]ha.Member, 0, len(c.Replicas))
	for _, r := range c.Replicas {
		id, addr, _ := strings.Cut(r, "@")
		out = append(out, ha.Member{ID: id, Addr: addr})
	}
	return out
}

// validate reports the first [raft] setting that cannot work.
func (c RaftConfig) validate() error {
	if !c.Enabled() {
		return nil
	}
	if c.ID == "" || strings.ContainsAny(c.ID, "@ \t\n") {
		return fmt.Errorf("config: [raft] id %q: want a name without spaces or '@' (every replica has its own)", c.ID)
	}
	if err := checkRaftAddr(c.Bind); err != nil {
		return fmt.Errorf("config: [raft] bind %q: %w", c.Bind, err)
	}
	if len(c.Replicas) < MinOtherReplicas {
		return fmt.Errorf("config: [raft] replicas: %d other replica(s): need at least %d (with fewer, losing one replica stops the node)",
			len(c.Replicas), MinOtherReplicas)
	}
	ids := map[string]bool{c.ID: true}
	addrs := map[string]bool{c.Bind: true}
	for _, r := range c.Replicas {
		id, addr, ok := strings.Cut(r, "@")
		if !ok || id == "" || strings.ContainsAny(id, " \t\n") {
			return fmt.Errorf("config: [raft] replicas: %q: want \"id@host:port\"", r)
		}
		if id == c.ID {
			return fmt.Errorf("config: [raft] replicas: %q: that is this replica's own id (list the others only)", r)
		}
		if ids[id] {
			return fmt.Errorf("config: [raft] replicas: id %q appears twice", id)
		}
		if err := checkRaftAddr(addr); err != nil {
			return fmt.Errorf("config: [raft] replicas: %q: %w", r, err)
		}
		if addrs[addr] {
			return fmt.Errorf("config: [raft] replicas: %q: the address %s is taken by another replica or by bind", r, addr)
		}
		ids[id], addrs[addr] = true, true
	}
	return nil
}

// checkRaftAddr accepts host:port that other machines can dial: raft
// tells the others the address it binds.
func checkRaftAddr(addr string) error {
	host, port, err := stdnet.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("port %q: want 1-65535", port)
	}
	if host == "" {
		return errors.New("no host: the other replicas must be able to dial it")
	}
	if ip := stdnet.ParseIP(host); ip != nil && ip.IsUnspecified() {
		return fmt.Errorf("%s is not an address the other replicas can dial", host)
	}
	return nil
}

// DefaultConfig is what `metanode init` writes.
func DefaultConfig() Config {
	return Config{
		P2P:     P2PConfig{Listen: []string{"/ip4/0.0.0.0/tcp/12121"}},
		REST:    RESTConfig{Listen: "127.0.0.1:8067"},
		Metrics: MetricsConfig{Listen: "127.0.0.1:9067"},
		Log:     LogConfig{Level: "info", Format: "auto"},
		TSS: TSSConfig{PassphraseFile: PassphraseFile, PreParamsPool: 2,
			Argon2Time: tss.MinKDFTime, Argon2MemoryKiB: tss.MinKDFMemoryKiB, Argon2Threads: tss.MinKDFThreads},
		Chain: ChainConfig{Kind: "devnet", URL: "http://127.0.0.1:8070"},
	}
}

// LoadConfig reads DIR/config.toml; unknown keys are an error (a typo
// must not silently fall back to a default).
func LoadConfig(home string) (Config, error) {
	path := filepath.Join(home, ConfigFile)
	cfg := DefaultConfig()
	meta, err := toml.DecodeFile(path, &cfg)
	if errors.Is(err, os.ErrNotExist) {
		return cfg, fmt.Errorf("%s: no config: run `metanode init --home %s` first", path, home)
	}
	if err != nil {
		return cfg, fmt.Errorf("%s: %s", path, oneLine(err))
	}
	if undecoded := meta.Undecoded(); len(undecoded) > 0 {
		return cfg, fmt.Errorf("%s: unknown setting %q", path, undecoded[0].String())
	}
	return cfg, cfg.Validate()
}

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	if len(c.P2P.Listen) == 0 {
		return errors.New("config: [p2p] listen is empty: the node needs an address to listen on")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("config: [log] level %q: want debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "json", "text", "auto":
	default:
		return fmt.Errorf("config: [log] format %q: want json, text or auto", c.Log.Format)
	}
	if c.Chain.Kind != "devnet" {
		return fmt.Errorf("config: [chain] kind %q: only \"devnet\" exists yet (the Bitcoin adapter is planned)", c.Chain.Kind)
	}
	if c.Chain.URL == "" {
		return errors.New("config: [chain] url is empty")
	}
	if c.TSS.PreParamsPool < 0 {
		return fmt.Errorf("config: [tss] preparams_pool %d: must not be negative", c.TSS.PreParamsPool)
	}
	if err := c.TSS.KDF().Validate(); err != nil {
		return fmt.Errorf("config: [tss] argon2_time, argon2_memory_kib, argon2_threads: %w", err)
	}
	return c.Raft.validate()
}

// oneLine makes a parse error one line (toml's errors may span several).
func oneLine(err error) string {
	var perr toml.ParseError
	if errors.As(err, &perr) {
		return fmt.Sprintf("line %d: %s", perr.Position.Line, perr.Message)
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

// configTemplate is the commented config.toml `metanode init` writes.
const configTemplate = `# metanode node config. Every setting can be overridden by a flag of
# ` + "`metanode run`" + ` or a METANODE_<SECTION>_<KEY> variable (e.g. METANODE_REST_LISTEN).

[p2p]
# A name for this node, shown to operators.
moniker = {{moniker}}
# Where the libp2p host listens (multiaddrs).
listen = {{listen}}
# Static peers, dialled and re-dialled forever: /ip4/HOST/tcp/PORT/p2p/PEER_ID.
peers = {{peers}}

[rest]
# The read-only REST API (/api/v1/status, /api/v1/peers, ...); "" turns it off.
listen = {{rest}}

[metrics]
# Prometheus /metrics; "" turns it off.
listen = {{metrics}}

[log]
# debug, info, warn or error.
level = {{level}}
# json, text, or auto: JSON unless stderr is a terminal.
format = {{format}}

[tss]
# The file (mode 0600) holding the passphrase that unlocks identity.key
# and the share store; METANODE_PASSPHRASE overrides it.
passphrase_file = {{passphrase}}
# Pre-parameter sets kept ready for keygen and resharing.
preparams_pool = {{pool}}
# argon2id's cost for the sealed files the node writes (shares, identity.key):
# at least RFC 9106's second recommendation, t=3, 64 MiB (65536 KiB), p=4.
# Raise them freely; each file keeps the cost it was written with.
argon2_time = {{argon2_time}}
argon2_memory_kib = {{argon2_memory}}
argon2_threads = {{argon2_threads}}

[chain]
# "devnet": the devnet's chain service (the Bitcoin adapter is planned).
kind = {{kind}}
url = {{url}}
# This node's stake transaction, announced in its pings.
stake_tx = {{stake}}

[raft]
# High availability: run this node as three (or more) replicas, each on its
# own machine with its own home (its own event log, HOME/raft, ports) and the
# same identity.key, passphrase and shares/. hashicorp/raft replicates the
# event log; only the replica raft elects runs the node (p2p, clock, chain),
# the others follow its log and serve the REST API and metrics.
# Leave id, bind and replicas empty for a single node.
# This replica's raft id (unique among the replicas).
id = {{raft_id}}
# host:port of this replica's raft transport; the others dial it.
bind = {{raft_bind}}
# The other replicas (at least two) as "id@host:port".
replicas = {{raft_replicas}}
`

// Render writes c as a commented config.toml.
func (c Config) Render() string {
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	list := func(l []string) string {
		quoted := make([]string, len(l))
		for i, s := range l {
			quoted[i] = q(s)
		}
		return "[" + strings.Join(quoted, ", ") + "]"
	}
	return strings.NewReplacer(
		"{{moniker}}", q(c.P2P.Moniker), "{{listen}}", list(c.P2P.Listen), "{{peers}}", list(c.P2P.Peers),
		"{{rest}}", q(c.REST.Listen), "{{metrics}}", q(c.Metrics.Listen),
		"{{level}}", q(c.Log.Level), "{{format}}", q(c.Log.Format),
		"{{passphrase}}", q(c.TSS.PassphraseFile), "{{pool}}", fmt.Sprint(c.TSS.PreParamsPool),
		"{{argon2_time}}", fmt.Sprint(c.TSS.Argon2Time), "{{argon2_memory}}", fmt.Sprint(c.TSS.Argon2MemoryKiB),
		"{{argon2_threads}}", fmt.Sprint(c.TSS.Argon2Threads),
		"{{kind}}", q(c.Chain.Kind), "{{url}}", q(c.Chain.URL), "{{stake}}", q(c.Chain.StakeTx),
		"{{raft_id}}", q(c.Raft.ID), "{{raft_bind}}", q(c.Raft.Bind), "{{raft_replicas}}", list(c.Raft.Replicas),
	).Replace(configTemplate)
}
