//go:build unix

package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/rogpeppe/go-internal/testscript"
)

// webhook NAME [FAILURES]
//
// Starts an HTTP server on a free loopback port until the script ends and
// sets $NAME_URL to a URL on it whose path holds a token
// (/services/NAME-s3cr3t-token), which must never reach a log. Each
// request is appended to $WORK/NAME.requests as "N METHOD STATUS"; the
// first FAILURES requests (default 0) are answered 500, the others 200,
// and the body of each one answered 200 is written, whole, to
// $WORK/NAME/K.json, K counting from 1.
func init() {
	scriptCommands["webhook"] = cmdWebhook
}

func cmdWebhook(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 || len(args) > 2 || !bgName.MatchString(args[0]) {
		ts.Fatalf("usage: webhook NAME [FAILURES]")
	}
	name := args[0]
	failures := 0
	if len(args) == 2 {
		n, err := strconv.Atoi(args[1])
		if err != nil || n < 0 {
			ts.Fatalf("webhook: FAILURES must be a count, got %q", args[1])
		}
		failures = n
	}
	dir := ts.MkAbs(name)
	ts.Check(os.MkdirAll(dir, 0o755))
	requests := ts.MkAbs(name + ".requests")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	ts.Check(err)

	var mu sync.Mutex
	seen, saved := 0, 0
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		seen++
		status := http.StatusOK
		if seen <= failures {
			status = http.StatusInternalServerError
		}
		if status == http.StatusOK {
			saved++
			// Written whole, then renamed, so wait-file never sees half.
			file := filepath.Join(dir, strconv.Itoa(saved)+".json")
			if err := os.WriteFile(file+".tmp", body, 0o644); err == nil {
				os.Rename(file+".tmp", file)
			}
		}
		if f, err := os.OpenFile(requests, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
			fmt.Fprintf(f, "%d %s %d\n", seen, r.Method, status)
			f.Close()
		}
		w.WriteHeader(status)
	})}
	go srv.Serve(ln)
	ts.Defer(func() { srv.Close() })
	ts.Setenv(strings.ToUpper(name)+"_URL", "http://"+ln.Addr().String()+"/services/"+name+"-s3cr3t-token")
}
