package config

import (
	"testing"
)

func TestLocate(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want map[string]int
	}{
		{
			name: "keys and tables",
			src: `# comment
listen = "x" # trailing [not.a.table]

[apps.shop.environments.production]
path = "/srv"
`,
			want: map[string]int{
				"listen":                                 2,
				"apps":                                   4,
				"apps.shop":                              4,
				"apps.shop.environments":                 4,
				"apps.shop.environments.production":      4,
				"apps.shop.environments.production.path": 5,
			},
		},
		{
			name: "arrays of tables are numbered",
			src: `[[users]]
name = "a"
[[users]]
name = "b"
keys = [
  "k0",
  # a comment with "quotes" and = signs
  "k1",
]
[[ users ]]
`,
			want: map[string]int{
				"users":         1,
				"users[0]":      1,
				"users[0].name": 2,
				"users[1]":      3,
				"users[1].name": 4,
				"users[1].keys": 5, "users[1].keys[0]": 6, "users[1].keys[1]": 8,
				"users[2]": 10,
			},
		},
		{
			name: "quoted and dotted keys",
			src: `[apps."*" . environments.'x.y']
"quoted key" = 1
a.b . "c" = 2
[hosts."web 1"]
`,
			want: map[string]int{
				`apps."*"`:                                 1,
				`apps."*".environments."x.y"`:              1,
				`apps."*".environments."x.y"."quoted key"`: 2,
				`apps."*".environments."x.y".a`:            3,
				`apps."*".environments."x.y".a.b.c`:        3,
				`hosts."web 1"`:                            4,
			},
		},
		{
			name: "multi-line strings hide their content",
			src: `a = """
[not.a.table]
b = 1 \"""
"""
c = '''
d = 2'''
e = "x\"y = 3"
f = 'g = 4'
`,
			want: map[string]int{"a": 1, "c": 5, "e": 7, "f": 8},
		},
		{
			name: "inline tables and arrays of them",
			src: `health = { command = "a", timeout = "1s" }
users = [
  { name = "a", keys = ["k"] },
  { name = "b" },
]
`,
			want: map[string]int{
				"health": 1, "health.command": 1, "health.timeout": 1,
				"users": 2, "users[0]": 3, "users[0].name": 3, "users[0].keys[0]": 3,
				"users[1]": 4, "users[1].name": 4,
			},
		},
		{
			name: "nested arrays of tables restart per entry",
			src: `[[a]]
[[a.b]]
[[a.b]]
[[a]]
[[a.b]]
x = 1
`,
			want: map[string]int{"a[0]": 1, "a[0].b[0]": 2, "a[0].b[1]": 3, "a[1]": 4, "a[1].b[0]": 5, "a[1].b[0].x": 6},
		},
		{
			name: "windows line endings",
			src:  "a = 1\r\n[t]\r\nb = 2\r\n",
			want: map[string]int{"a": 1, "t": 2, "t.b": 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := locate(tt.src)
			for key, line := range tt.want {
				if got[key] != line {
					t.Errorf("%s: line %d, want %d", key, got[key], line)
				}
			}
			for _, key := range []string{"not", "not.a", "b", "d", "g"} {
				if n, ok := got[key]; ok {
					t.Errorf("found %s at line %d inside a string or comment", key, n)
				}
			}
		})
	}
}

// FuzzLocate checks that locate terminates and does not panic on any input,
// valid TOML or not.
func FuzzLocate(f *testing.F) {
	f.Add(string(Example()))
	f.Add("a = [\n{ b = '''x\n''' }, \"\\\"\" ]\n[[c]]\n[d.\"e\\\"\"]")
	f.Add("[")
	f.Add(`a = """`)
	f.Add("x = {")
	f.Fuzz(func(t *testing.T, src string) {
		locate(src)
	})
}
