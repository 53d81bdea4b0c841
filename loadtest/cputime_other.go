//go:build !linux

package loadtest

import "time"

// threadCPU cannot read a thread's CPU time here: the solver's wall time
// stands for it (the report says which).
func threadCPU() (time.Duration, bool) { return 0, false }
