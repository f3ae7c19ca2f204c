package release

import (
	"strings"
	"testing"
	"unicode"

	"github.com/slipwayhq/slipway/lifecycle"
)

// Every form in which Slipway writes a secret is masked in push output:
// the value itself and its shell-quoted form in secrets_file.
func TestSecretFormsMaskSecretsFile(t *testing.T) {
	tests := []struct {
		name  string
		value string
	}{
		{"plain", "s3cret-value"},
		{"single quotes", `it's 'quoted'`},
		{"shell metacharacters", "ab\"$(cd)`ef`;|&\\gh 'ij'"},
		{"several lines", "line 'one'\nline two"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := map[string]string{"TOKEN": tt.value}
			d := &deploy{secrets: secrets}
			forms := secretForms(secrets)
			file := string(d.secretsFile())
			_, file, _ = strings.Cut(file, "\n") // the comment
			for _, text := range []string{file, "raw " + tt.value + "\n"} {
				masked := lifecycle.Mask(text, forms)
				// No run of letters from the value is left.
				words := strings.FieldsFunc(tt.value, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
				for _, w := range words {
					if len(w) >= 2 && strings.Contains(masked, w) {
						t.Errorf("%q shows in %q", w, masked)
					}
				}
				if !strings.Contains(masked, "***") {
					t.Errorf("nothing masked in %q", masked)
				}
			}
		})
	}
}
