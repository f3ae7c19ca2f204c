package gitserver

import "testing"

func TestLoggedCommand(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"status", "shop", "--json"}, "status shop --json"},
		{[]string{"secrets", "list", "shop", "production"}, "secrets list shop production"},
		{[]string{"secrets", "set", "shop", "production", "DB_PASSWORD"}, "secrets set shop production DB_PASSWORD"},
		{[]string{"secrets", "set", "shop", "production", "DB_PASSWORD", "hunter2"}, "secrets set shop production DB_PASSWORD ***"},
		{[]string{"secrets", "set", "shop", "production", "DB_PASSWORD=hunter2", "API=x y"}, "secrets set shop production DB_PASSWORD=*** API=***"},
		{[]string{"secrets", "set", "shop", "production", "hunter2!"}, "secrets set shop production ***"},
		{[]string{"secrets", "unset", "shop", "production", "DB_PASSWORD"}, "secrets unset shop production DB_PASSWORD"},
		{[]string{"secrets", "hunter2", "shop", "production"}, "secrets *** shop production"},
		{[]string{"secrets", "set", "shop/x", "pr od", "A"}, "secrets set *** *** A"},
	}
	for _, tt := range tests {
		if got := loggedCommand(tt.args); got != tt.want {
			t.Errorf("loggedCommand(%q) = %q, want %q", tt.args, got, tt.want)
		}
	}
}
