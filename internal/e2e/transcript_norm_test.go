//go:build unix

package e2e

import "testing"

func TestNormalizeTranscript(t *testing.T) {
	commit := "4ff50fd8b0a6e1f1d2c3b4a5968778695a4b3c2d"
	tests := []struct {
		name, in, want string
	}{
		{
			name: "durations, commits and ports",
			in:   "remote: shop → production: release v1 (4ff50fd \"First\") by alice\nremote: deployed v1 to production in 1.5s\nTo ssh://127.0.0.1:39609/shop\n",
			want: "remote: shop → production: release v1 (<commit> \"First\") by alice\nremote: deployed v1 to production in <d>\nTo ssh://127.0.0.1:<port>/shop\n",
		},
		{
			name: "longer abbreviations and full ids",
			in:   "   4ff50fd8b..4ff50fd8b0a6e1f1d2c3b4a5968778695a4b3c2d  production\n",
			want: "   <commit>..<commit>  production\n",
		},
		{
			name: "digits that are not a commit stay",
			in:   "remote: export     ok   1234567 files\n",
			want: "remote: export     ok   1234567 files\n",
		},
		{
			name: "trailing blanks git adds after remote lines",
			in:   "remote: upload     web-1 ok   2 files changed, 214 B sent  0.1s        \n",
			want: "remote: upload     web-1 ok   2 files changed, <n> sent  <d>\n",
		},
		{
			name: "lines of one step sorted, steps kept in order",
			in:   "remote: upload     web-2 ok\nremote: upload     web-1 ok\nremote: wave 1/2   web-1 current\nremote: rollback   web-3 x\nremote: rollback   web-1 x\n",
			want: "remote: upload     web-1 ok\nremote: upload     web-2 ok\nremote: wave 1/2   web-1 current\nremote: rollback   web-1 x\nremote: rollback   web-3 x\n",
		},
		{
			name: "times, ages, fingerprints and the work directory",
			in:   "shop/production  v1 by alice, 2026-12-02 13:46 UTC\n  web-1  seen 12-02 13:46\nkey SHA256:MTtODz35BZAVpgUAdxXHB/U2yNB49O+bUmTEw8FwO6s at /tmp/work/x, 5m ago\n",
			want: "shop/production  v1 by alice, <time>\n  web-1  seen <time>\nkey SHA256:<key> at $WORK/x, <d> ago\n",
		},
		{name: "nothing", in: "", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := normalizeTranscript(tt.in, "/tmp/work", []string{commit}); got != tt.want {
				t.Errorf("normalizeTranscript(%q)\n got %q\nwant %q", tt.in, got, tt.want)
			}
		})
	}
}
