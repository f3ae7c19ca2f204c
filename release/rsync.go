package release

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
)

// ParseRsyncStats reads the summary that rsync --stats prints.
func ParseRsyncStats(out []byte) UploadStats {
	var st UploadStats
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		n, err := strconv.ParseInt(strings.ReplaceAll(fields[0], ",", ""), 10, 64)
		if err != nil {
			continue
		}
		switch strings.TrimSpace(key) {
		case "Number of regular files transferred":
			st.Files = int(n)
		case "Total bytes sent":
			st.BytesSent = n
		}
	}
	return st
}
