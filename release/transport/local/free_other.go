//go:build unix && !linux

package local

import "golang.org/x/sys/unix"

// freeBytes is the space left for the deploy user on the file system of
// path; 0 if unknown.
func freeBytes(path string) int64 {
	var st unix.Statfs_t
	if unix.Statfs(path, &st) != nil {
		return 0
	}
	return int64(st.Bavail) * int64(st.Bsize)
}
