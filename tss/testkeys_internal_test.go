package tss

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"
	tsslib "github.com/bnb-chain/tss-lib/v3/tss"

	"github.com/metanode/metanode/events"
	"github.com/metanode/metanode/events/eventstest"
)

// The package's own tests read the committed test keys from their
// directory: tss/testkeys imports tss, so they cannot import it.

// loadTestKeys reads the test keys of a committee of n with threshold t.
func loadTestKeys(n, t int) ([]keygen.LocalPartySaveData, error) {
	keys := make([]keygen.LocalPartySaveData, n)
	for i := range n {
		name := filepath.Join("testkeys", fmt.Sprintf("n%dt%d", n, t), fmt.Sprintf("keygen_data_%d.json", i))
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &keys[i]); err != nil {
			return nil, fmt.Errorf("test key %s: %w", name, err)
		}
		for _, x := range keys[i].BigXj {
			x.SetCurve(tsslib.S256())
		}
		keys[i].ECDSAPub.SetCurve(tsslib.S256())
	}
	return keys, nil
}

// testKeyPeer is the peer id of test key party i (testkeys.Peer).
func testKeyPeer(i int) events.PeerID { return eventstest.Peer(i) }
