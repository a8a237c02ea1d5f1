package sim_test

import (
	"os"
	"strconv"
)

// soakSeeds is SOAK_SEEDS from the environment (make soak), or 0.
func soakSeeds() int {
	n, _ := strconv.Atoi(os.Getenv("SOAK_SEEDS"))
	return n
}
