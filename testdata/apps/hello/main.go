// Command hello is the sample app of Slipway's end-to-end tests: a tiny
// HTTP server that an after_switch hook (re)starts in a release directory.
//
// It listens on $PORT, serves index.html from its working directory at /
// and answers /health with "release $SLIPWAY_RELEASE". When the release
// contains a file named DEGRADE holding a number N (1 if it is empty), it
// answers the first N health requests and fails every one after, like an
// app whose error rate climbs after a deploy. The change is counted in
// requests, never in time, so a slow machine sees the same sequence.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		log.Fatal("hello: PORT is not set")
	}
	release := os.Getenv("SLIPWAY_RELEASE")
	healthy, degrades := healthyRequests("DEGRADE")
	var served atomic.Int64
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if n := served.Add(1); degrades && n > healthy {
			http.Error(w, "error rate too high", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "release %s\n", release)
	})
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, "index.html")
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+port, nil))
}

// healthyRequests reads the number of health requests to answer before
// failing from file; degrades is false when there is no such file.
func healthyRequests(file string) (n int64, degrades bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, false
	}
	s := strings.TrimSpace(string(data))
	if s == "" {
		return 1, true
	}
	n, err = strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		log.Fatalf("hello: %s must hold a number of healthy requests, not %q", file, s)
	}
	return n, true
}
