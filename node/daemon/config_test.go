package daemon

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/tss"
	"github.com/metanode/metanode/tss/testkeys"
)

func testGenesis() Genesis {
	p := events.DefaultParams(5, 2)
	p.Network = "testnet"
	p.KeygenUntil = events.TimeOf(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	return GenesisOf(p, nil)
}

func TestConfigRoundTrip(t *testing.T) {
	home := t.TempDir()
	cfg := DefaultConfig()
	cfg.P2P.Moniker = "alpha"
	cfg.P2P.Peers = []string{"/ip4/127.0.0.1/tcp/1/p2p/12D3KooWQ6s1"}
	cfg.Chain.StakeTx = "stake"
	cfg.TSS.Argon2Time, cfg.TSS.Argon2MemoryKiB = 4, 256<<10
	if err := os.WriteFile(filepath.Join(home, ConfigFile), []byte(cfg.Render()), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadConfig(home)
	if err != nil {
		t.Fatal(err)
	}
	if got.P2P.Moniker != "alpha" || len(got.P2P.Peers) != 1 || got.Chain.StakeTx != "stake" || got.REST.Listen != cfg.REST.Listen ||
		got.TSS.KDF() != (tss.KDFParams{Time: 4, MemoryKiB: 256 << 10, Threads: 4}) {
		t.Fatalf("config did not round-trip: %+v", got)
	}
}

func TestConfigErrorsAreOneLine(t *testing.T) {
	for name, tc := range map[string]struct{ content, want string }{
		"syntax":        {"[p2p\nmoniker = 1\n", "config.toml: line"},
		"unknown key":   {"[rest]\nport = 8067\n", `unknown setting "rest.port"`},
		"wrong type":    {"[p2p]\nlisten = 5\n", "config.toml"},
		"bad level":     {"[log]\nlevel = \"loud\"\n", "[log] level"},
		"unknown chain": {"[chain]\nkind = \"eth\"\n", "[chain] kind"},
		"weak argon2":   {"[tss]\nargon2_time = 1\n", "[tss] argon2_time"},
		"weak memory":   {"[tss]\nargon2_memory_kib = 19456\n", "below the minimum"},
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, ConfigFile), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadConfig(home)
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, tc.want)
			}
		})
	}
	if _, err := LoadConfig(t.TempDir()); err == nil || !strings.Contains(err.Error(), "metanode init") {
		t.Fatalf("a home without config: %v", err)
	}
}

// TestGenesisHash: the hash depends on the parameters and the key, not
// on the file's formatting; it lands in the params the log starts with.
func TestGenesisHash(t *testing.T) {
	home := t.TempDir()
	g := testGenesis()
	data, err := g.Encode()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(home, GenesisFile)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	_, params, err := LoadGenesis(home)
	if err != nil {
		t.Fatal(err)
	}
	want, err := g.Hash()
	if err != nil || params.Genesis != want || want.IsZero() {
		t.Fatalf("params carry %s, the genesis hashes to %s (%v)", params.Genesis, want, err)
	}
	// comments and blank lines change nothing, nor does the comment a
	// genesis is written with (a devnet's says its key is a test key)
	if err := os.WriteFile(path, append([]byte("# a comment\n\n"), data...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, again, err := LoadGenesis(home); err != nil || again.Genesis != want {
		t.Fatalf("a comment changed the hash: %v", err)
	}
	noted := g
	noted.Comment = "[key] is a TEST KEY.\nEvery share of it is public."
	if h, err := noted.Hash(); err != nil || h != want {
		t.Fatalf("the genesis's comment changed its hash: %v", err)
	}
	if data, err := noted.Encode(); err != nil || !strings.Contains(string(data), "\n# [key] is a TEST KEY.\n# Every share of it is public.\n") {
		t.Fatalf("the comment is not written as TOML comments: %v\n%s", err, data)
	}
	// any parameter does
	other := g
	other.Threshold = 3
	if h, _ := other.Hash(); h == want {
		t.Fatal("another threshold, the same hash")
	}
	// bad values are one line naming the file
	for _, bad := range []string{
		strings.Replace(string(data), "threshold = 2", "threshold = 9", 1),
		strings.Replace(string(data), `ping_interval = "3s"`, `ping_interval = "often"`, 1),
		string(data) + "\nsurprise = 1\n",
		regexp.MustCompile(`keygen_until = \S+`).ReplaceAllString(string(data), "keygen_until = 2026-11-01T00:00:00Z"),
		regexp.MustCompile(`keygen_until = \S+`).ReplaceAllString(string(data), `keygen_until = "2026-11-01T00:00:00"`),
	} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, _, err := LoadGenesis(home); err == nil || !strings.Contains(err.Error(), "genesis.toml") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("bad genesis: %v", err)
		}
	}
}

// TestInitRefusesOverwrite: init makes a home once; a second init
// changes nothing; the identity opens only with the passphrase.
func TestInitRefusesOverwrite(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node")
	g := testGenesis()
	res, err := Init(home, InitOptions{Config: DefaultConfig(), Genesis: &g})
	if err != nil {
		t.Fatal(err)
	}
	if res.PassphraseFile == "" {
		t.Fatal("no passphrase written")
	}
	before, _ := os.ReadFile(filepath.Join(home, IdentityFile))
	if _, err := Init(home, InitOptions{Config: DefaultConfig()}); err == nil || !strings.Contains(err.Error(), "refuses to overwrite") {
		t.Fatalf("second init: %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(home, IdentityFile))
	if string(before) != string(after) {
		t.Fatal("a refused init changed the identity")
	}
	pass, err := Passphrase(home, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, key, err := openSecrets(home, pass, DefaultConfig().TSS.KDF()); err != nil || key == nil {
		t.Fatalf("open with the passphrase: %v", err)
	}
	if _, _, err := openSecrets(home, []byte("wrong"), DefaultConfig().TSS.KDF()); err == nil || !strings.Contains(err.Error(), "wrong passphrase") {
		t.Fatalf("open with a wrong passphrase: %v", err)
	}
	if raw, _ := os.ReadFile(filepath.Join(home, IdentityFile)); strings.Contains(string(raw), "ed25519") {
		t.Fatal("the identity file is not sealed")
	}
}

// TestGenesisKeyRoundTrip: a starting key survives genesis.toml exactly
// (share ids included: signing addresses members by them).
func TestGenesisKeyRoundTrip(t *testing.T) {
	keys, err := testkeys.Load(testkeys.FS, 5, 2)
	if err != nil {
		t.Fatal(err)
	}
	parties := make([]tss.Party, len(keys))
	for i := range keys {
		parties[i] = tss.Party{Peer: testkeys.Peer(i), Key: keys[i].ShareID}
	}
	key, err := tss.PublishKey(&keys[0], parties, 2)
	if err != nil {
		t.Fatal(err)
	}
	p := events.DefaultParams(5, 2)
	p.Network = "testnet"
	p.KeygenUntil = events.TimeOf(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	home := t.TempDir()
	data, err := GenesisOf(p, key).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, GenesisFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	g, _, err := LoadGenesis(home)
	if err != nil {
		t.Fatal(err)
	}
	got, err := g.StartKey()
	if err != nil || !reflect.DeepEqual(got, key) {
		t.Fatalf("the key did not round-trip (%v):\n got %+v\nwant %+v", err, got, key)
	}
}

func TestRaftConfig(t *testing.T) {
	others := `replicas = ["b@127.0.0.1:7002", "c@127.0.0.1:7003"]`
	for name, tc := range map[string]struct{ content, want string }{
		"valid":          {"[raft]\nid = \"a\"\nbind = \"127.0.0.1:7001\"\n" + others + "\n", ""},
		"absent":         {"", ""},
		"no id":          {"[raft]\nbind = \"127.0.0.1:7001\"\n" + others + "\n", "[raft] id"},
		"bad bind":       {"[raft]\nid = \"a\"\nbind = \"127.0.0.1\"\n" + others + "\n", "[raft] bind"},
		"unspecified":    {"[raft]\nid = \"a\"\nbind = \"0.0.0.0:7001\"\n" + others + "\n", "can dial"},
		"one other":      {"[raft]\nid = \"a\"\nbind = \"127.0.0.1:7001\"\nreplicas = [\"b@127.0.0.1:7002\"]\n", "need at least 2"},
		"own id":         {"[raft]\nid = \"a\"\nbind = \"127.0.0.1:7001\"\nreplicas = [\"a@127.0.0.1:7002\", \"c@127.0.0.1:7003\"]\n", "own id"},
		"duplicate id":   {"[raft]\nid = \"a\"\nbind = \"127.0.0.1:7001\"\nreplicas = [\"b@127.0.0.1:7002\", \"b@127.0.0.1:7003\"]\n", "appears twice"},
		"duplicate addr": {"[raft]\nid = \"a\"\nbind = \"127.0.0.1:7001\"\nreplicas = [\"b@127.0.0.1:7001\", \"c@127.0.0.1:7003\"]\n", "is taken"},
		"no at":          {"[raft]\nid = \"a\"\nbind = \"127.0.0.1:7001\"\nreplicas = [\"127.0.0.1:7002\", \"c@127.0.0.1:7003\"]\n", "id@host:port"},
		"bad port":       {"[raft]\nid = \"a\"\nbind = \"127.0.0.1:7001\"\nreplicas = [\"b@127.0.0.1:99999\", \"c@127.0.0.1:7003\"]\n", "1-65535"},
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, ConfigFile), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := LoadConfig(home)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.content != "" && (!cfg.Raft.Enabled() || len(cfg.Raft.Members()) != 2 || cfg.Raft.Members()[1].Addr != "127.0.0.1:7003") {
					t.Fatalf("raft members: %+v", cfg.Raft.Members())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line containing %q", err, tc.want)
			}
		})
	}
}
