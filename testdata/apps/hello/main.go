// Command hello is the sample app of Slipway's end-to-end tests: a tiny
// HTTP server that an after_switch hook (re)starts in a release directory.
//
// It listens on $PORT, serves index.html from its working directory at /
// and answers /health with "release $SLIPWAY_RELEASE". When the release
// contains a file named DEGRADE it turns unhealthy three seconds after it
// starts, like an app whose error rate climbs after a deploy.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		log.Fatal("hello: PORT is not set")
	}
	started := time.Now()
	release := os.Getenv("SLIPWAY_RELEASE")
	_, err := os.Stat("DEGRADE")
	degrades := err == nil
	http.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if degrades && time.Since(started) > 3*time.Second {
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
