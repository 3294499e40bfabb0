// Command ubootenv writes a U-Boot environment file (uboot.env, for
// CONFIG_ENV_IS_IN_FAT) made of the default environment built into a
// u-boot.bin plus overrides. U-Boot replaces its whole environment with the
// file's, so the defaults (bootcmd and the distro boot scripts) must be in it.
//
//	ubootenv -uboot u-boot.bin -size 0x4000 -o uboot.env bootdelay=0 kernel_addr_r=0x00200000 ...
package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

var entry = regexp.MustCompile(`^[A-Za-z0-9_.]+=[\x20-\x7e\t\n]*$`)

// defaultEnv finds the NUL-separated "name=value" block around bootcmd=.
func defaultEnv(bin []byte) (map[string]string, []string, error) {
	i := bytes.Index(bin, []byte("\x00bootcmd="))
	if i < 0 {
		return nil, nil, errors.New("no bootcmd= in the binary")
	}
	// Walk back entry by entry.
	start := i + 1
	for start > 0 {
		j := bytes.LastIndexByte(bin[:start-1], 0)
		if j < 0 || !entry.Match(bin[j+1:start-1]) {
			break
		}
		start = j + 1
	}
	end := bytes.Index(bin[start:], []byte{0, 0})
	if end < 0 {
		return nil, nil, errors.New("unterminated environment")
	}
	env := map[string]string{}
	var order []string
	for _, kv := range strings.Split(string(bin[start:start+end]), "\x00") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !entry.MatchString(kv) {
			return nil, nil, fmt.Errorf("bad entry %q", kv)
		}
		if _, dup := env[k]; !dup {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, k := range []string{"bootcmd", "distro_bootcmd", "boot_targets"} {
		if _, ok := env[k]; !ok {
			return nil, nil, fmt.Errorf("default environment without %s", k)
		}
	}
	return env, order, nil
}

func main() {
	uboot := flag.String("uboot", "", "u-boot.bin whose default environment is the base")
	size := flag.String("size", "0x4000", "CONFIG_ENV_SIZE of that U-Boot")
	out := flag.String("o", "uboot.env", "output file")
	flag.Parse()
	if err := run(*uboot, *size, *out, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "ubootenv:", err)
		os.Exit(1)
	}
}

func run(uboot, sizeArg, out string, overrides []string) error {
	bin, err := os.ReadFile(uboot)
	if err != nil {
		return err
	}
	size, err := strconv.ParseUint(sizeArg, 0, 32)
	if err != nil || size < 8 {
		return fmt.Errorf("bad -size %q", sizeArg)
	}
	env, order, err := defaultEnv(bin)
	if err != nil {
		return fmt.Errorf("%s: %w", uboot, err)
	}
	for _, kv := range overrides {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("override %q: want name=value", kv)
		}
		if _, had := env[k]; !had {
			order = append(order, k)
		}
		env[k] = v
	}
	sort.Strings(order)
	var data bytes.Buffer
	for _, k := range order {
		data.WriteString(k + "=" + env[k] + "\x00")
	}
	data.WriteByte(0)
	if uint64(data.Len())+4 > size {
		return fmt.Errorf("environment of %d bytes exceeds %d", data.Len(), size-4)
	}
	body := make([]byte, size-4)
	copy(body, data.Bytes())
	file := binary.LittleEndian.AppendUint32(nil, crc32.ChecksumIEEE(body))
	return os.WriteFile(out, append(file, body...), 0o644)
}
