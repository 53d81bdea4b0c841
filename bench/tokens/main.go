// Command tokens mints user tokens for the benchmark clients, one per line,
// with the service's secret (FLASHSALE_JWT_SECRET). Distinct users matter:
// a real herd is many people, and the per-user limit and per-user
// reservation state are keyed by them.
//
//	go run ./bench/tokens -n 200000 -prefix bench-user > tokens.txt
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/flashsale/flashsale/auth"
)

func main() {
	n := flag.Int("n", 10000, "number of distinct users")
	prefix := flag.String("prefix", "bench-user", "user id prefix; user ids are <prefix>-<i>")
	admin := flag.Bool("admin", false, "mint admin tokens")
	ttl := flag.Duration("ttl", 24*time.Hour, "token lifetime")
	flag.Parse()
	secret := os.Getenv("FLASHSALE_JWT_SECRET")
	if secret == "" {
		log.Fatal("tokens: set FLASHSALE_JWT_SECRET to the service's secret")
	}
	a, err := auth.NewHS256([]byte(secret))
	if err != nil {
		log.Fatal(err)
	}
	out := bufio.NewWriterSize(os.Stdout, 1<<20)
	for i := range *n {
		token, err := a.Mint(fmt.Sprintf("%s-%d", *prefix, i), *admin, *ttl)
		if err != nil {
			log.Fatal(err)
		}
		out.WriteString(token)
		out.WriteByte('\n')
	}
	if err := out.Flush(); err != nil {
		log.Fatal(err)
	}
}
