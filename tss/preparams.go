package tss

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bnb-chain/tss-lib/v3/ecdsa/keygen"

	"github.com/metanode/metanode/internal/durable"
)

// The pre-parameter pool: safe primes and Paillier keys generated ahead
// of time (2-30 s each), so a keygen or a resharing never waits on them.
// Each set is a sealed file under DIR/preparams; taking one removes its
// file first, so no set ever serves two sessions. Sets are sealed like
// shares but bound to no peer: the pool is filled by `metanode tss
// preparams`, which has no identity. A set of format 1 still opens
// (preparamsAADV1); it is never rewritten, as taking it removes it.
const preparamsAADV1 = "metanode/v1/preparams"

func (s *ShareStore) poolDir() string { return filepath.Join(s.dir, "preparams") }

// PoolSize counts the sets in the pool.
func (s *ShareStore) PoolSize() (int, error) {
	names, err := s.poolFiles()
	return len(names), err
}

func (s *ShareStore) poolFiles() ([]string, error) {
	entries, err := os.ReadDir(s.poolDir())
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pre-parameter pool: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pre") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names, nil
}

// PutPreParams adds a set to the pool.
func (s *ShareStore) PutPreParams(p *keygen.LocalPreParams) error {
	if !p.ValidateWithProof() {
		return fmt.Errorf("pre-parameter pool: incomplete pre-parameters")
	}
	if err := os.MkdirAll(s.poolDir(), 0o700); err != nil {
		return fmt.Errorf("pre-parameter pool: %w", err)
	}
	name := fmt.Sprintf("%020d.pre", time.Now().UnixNano())
	if err := s.sealFile(filepath.Join(s.poolDir(), name), labelPreParams, nil, p); err != nil {
		return fmt.Errorf("pre-parameter pool: %w", err)
	}
	return nil
}

// TakePreParams removes the oldest set from the pool and returns it.
func (s *ShareStore) TakePreParams() (*keygen.LocalPreParams, error) {
	names, err := s.poolFiles()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("pre-parameter pool is empty: fill it with metanode tss preparams")
	}
	path := filepath.Join(s.poolDir(), names[0])
	var p keygen.LocalPreParams
	if err := s.openFile(path, labelPreParams, nil, []byte(preparamsAADV1), false, &p); err != nil {
		return nil, fmt.Errorf("pre-parameter pool: %w", err)
	}
	// Its Paillier secret becomes part of a share: leave no copy behind.
	if err := durable.Erase(path); err != nil {
		return nil, fmt.Errorf("pre-parameter pool: %w", err)
	}
	return &p, nil
}

// FillPreParams generates sets until the pool holds want, reporting each.
// generate is keygen.GeneratePreParamsWithContext in production.
func (s *ShareStore) FillPreParams(ctx context.Context, want int, generate func(context.Context) (*keygen.LocalPreParams, error), progress func(have, want int, took time.Duration)) error {
	for {
		have, err := s.PoolSize()
		if err != nil {
			return err
		}
		if have >= want {
			return nil
		}
		start := time.Now()
		p, err := generate(ctx)
		if err != nil {
			return fmt.Errorf("generate pre-parameters: %w", err)
		}
		if err := s.PutPreParams(p); err != nil {
			return err
		}
		progress(have+1, want, time.Since(start))
	}
}
