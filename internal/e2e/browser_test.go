//go:build unix

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rogpeppe/go-internal/testscript"
)

// Commands that look at the dashboard as a person does, in headless
// Chromium (Debian's chromium package; scripts guard with [exec:chromium]).
//
//	browser open URL                 start the browser (once per script) and load URL
//	browser wait SELECTOR TEXT       until the first element matching SELECTOR shows TEXT
//	browser lacks TEXT               the page does not show TEXT anywhere, now
//	browser red SELECTOR             until the element's text or background is red
//	browser screenshot [-phone] FILE a full-page PNG of what the browser shows
//	                                 (-phone: on a 390-pixel-wide screen)
//
// wait polls the page: a browser has no event a script can wait on, and
// the page reloads itself when a deploy ends. It gives up after
// browserWaitTimeout, showing what the element held.
func init() {
	scriptCommands["browser"] = cmdBrowser
}

const (
	browserStartTimeout = 2 * time.Minute
	browserWaitTimeout  = 3 * time.Minute
)

var (
	browsersMu sync.Mutex
	browsers   = map[*testscript.TestScript]*browser{}
)

type browser struct {
	ctx    context.Context
	cancel func()
}

func cmdBrowser(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("unsupported: ! browser")
	}
	if len(args) < 2 {
		ts.Fatalf("usage: browser open URL | wait SELECTOR TEXT | lacks TEXT | red SELECTOR | screenshot FILE")
	}
	switch args[0] {
	case "open":
		b := startBrowser(ts)
		ctx, cancel := context.WithTimeout(b.ctx, browserStartTimeout)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(args[1])); err != nil {
			ts.Fatalf("browser open %s: %v", args[1], err)
		}
	case "wait":
		if len(args) != 3 {
			ts.Fatalf("usage: browser wait SELECTOR TEXT")
		}
		b := currentBrowser(ts)
		js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.innerText : "(no element matches)"; })()`, args[1])
		if got, ok, err := b.poll(js, func(v string) bool { return strings.Contains(v, args[2]) }); !ok {
			ts.Fatalf("browser wait: %s does not show %q after %v; it shows %q (last error: %v)", args[1], args[2], browserWaitTimeout, got, err)
		}
	case "lacks":
		b := currentBrowser(ts)
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.outerHTML`))
		if err != nil {
			ts.Fatalf("browser lacks: %v", err)
		}
		if strings.Contains(html, args[1]) {
			ts.Fatalf("browser lacks: the page shows %q", args[1])
		}
	case "red":
		b := currentBrowser(ts)
		js := fmt.Sprintf(`(() => {
			const e = document.querySelector(%q);
			if (!e) return "(no element matches)";
			const s = getComputedStyle(e);
			return s.color + " on " + s.backgroundColor;
		})()`, args[1])
		// Polled like wait: the page reloads itself when a deploy ends,
		// and between two loads the element is not there.
		if got, ok, err := b.poll(js, hasRed); !ok {
			ts.Fatalf("browser red: %s is %s after %v, neither of which is red (last error: %v)", args[1], got, browserWaitTimeout, err)
		}
	case "screenshot":
		b := currentBrowser(ts)
		file, phone := args[1], false
		if file == "-phone" && len(args) == 3 {
			file, phone = args[2], true
		}
		ctx, cancel := context.WithTimeout(b.ctx, time.Minute)
		defer cancel()
		if phone {
			if err := chromedp.Do(ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile)); err != nil {
				ts.Fatalf("browser screenshot: %v", err)
			}
			defer chromedp.Do(ctx, chromedp.EmulateReset())
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			ts.Fatalf("browser screenshot: %v", err)
		}
		path := ts.MkAbs(file)
		ts.Check(os.WriteFile(path, png, 0o644))
		ts.Logf("screenshot of the dashboard: %s", path)
	default:
		ts.Fatalf("browser: unknown subcommand %q", args[0])
	}
}

// poll evaluates js in the page until what it returns satisfies ok, for
// at most browserWaitTimeout: it returns the last value js returned,
// whether it satisfied ok, and the last error.
func (b *browser) poll(js string, ok func(string) bool) (got string, done bool, err error) {
	giveUp := time.Now().Add(browserWaitTimeout)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		v, e := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		cancel()
		if err = e; err == nil {
			got = v
			if ok(got) {
				return got, true, nil
			}
		}
		if time.Now().After(giveUp) {
			return got, false, err
		}
		time.Sleep(pollInterval)
	}
}

// hasRed reports whether one of the CSS colours in s, "rgb(r, g, b)" or
// "rgba(r, g, b, a)", is clearly red (dark red on white, or light red on
// a dark background), not orange or grey.
func hasRed(s string) bool {
	for _, part := range strings.Split(s, " on ") {
		var r, g, b int
		part = strings.TrimPrefix(strings.TrimPrefix(part, "rgba("), "rgb(")
		if _, err := fmt.Sscanf(part, "%d, %d, %d", &r, &g, &b); err == nil && r >= 150 && r-g >= 80 && r-b >= 80 && abs(g-b) < 60 {
			return true
		}
	}
	return false
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// startBrowser launches Chromium for the script, with a fresh profile and
// nothing that reaches beyond this machine.
func startBrowser(ts *testscript.TestScript) *browser {
	browsersMu.Lock()
	b := browsers[ts]
	browsersMu.Unlock()
	if b != nil {
		return b
	}
	path, err := exec.LookPath("chromium")
	if err != nil {
		ts.Fatalf("browser: chromium not found (scripts/deps.sh installs it): %v", err)
	}
	profile := ts.MkAbs("chromium-profile")
	ts.Check(os.MkdirAll(profile, 0o700))
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1200, 900),
		chromedp.CombinedOutput(browserLog(ts)),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	b = &browser{ctx: ctx, cancel: func() { cancelCtx(); cancelAlloc() }}
	// The first call starts the browser, which lives as long as the
	// context of that call: it takes no timeout.
	if err := chromedp.Do(ctx); err != nil {
		b.cancel()
		ts.Fatalf("browser: start chromium: %v", err)
	}
	browsersMu.Lock()
	browsers[ts] = b
	browsersMu.Unlock()
	ts.Defer(func() {
		b.cancel()
		browsersMu.Lock()
		delete(browsers, ts)
		browsersMu.Unlock()
	})
	return b
}

func currentBrowser(ts *testscript.TestScript) *browser {
	browsersMu.Lock()
	b := browsers[ts]
	browsersMu.Unlock()
	if b == nil {
		ts.Fatalf("browser: no browser yet; use browser open URL first")
	}
	return b
}

// browserLog is where chromium's own output goes: $WORK/chromium.log.
func browserLog(ts *testscript.TestScript) *os.File {
	f, err := os.Create(filepath.Join(ts.MkAbs("."), "chromium.log"))
	ts.Check(err)
	ts.Defer(func() { f.Close() })
	return f
}
