package cli

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
)

// commandLineOnly marks a flag that only the command line sets, never
// MLCYCLE_<FLAG> or the config file.
const commandLineOnly = "mlcycle/command-line-only"

// applyEnvAndConfig fills every flag the user did not set on the command line
// from MLCYCLE_<FLAG> in the environment, then from the --config file.
func applyEnvAndConfig(cmd *cobra.Command) error {
	path, _ := cmd.Flags().GetString("config")
	if path == "" {
		path = os.Getenv("MLCYCLE_CONFIG")
	}
	var file map[string]any
	if path != "" {
		var err error
		if file, err = readConfigFile(path); err != nil {
			return err
		}
	}
	known := map[string]bool{}
	var firstErr error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		known[f.Name] = true
		if f.Changed || f.Name == "config" || f.Name == "help" || firstErr != nil {
			return
		}
		if _, ok := f.Annotations[commandLineOnly]; ok {
			return
		}
		env := "MLCYCLE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if err := f.Value.Set(v); err != nil {
				firstErr = fmt.Errorf("environment variable %s=%q: %w", env, v, err)
			}
			f.Changed = true
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := f.Value.Set(configString(v)); err != nil {
				firstErr = fmt.Errorf("config file %s, key %q: %w", path, f.Name, err)
			}
			f.Changed = true
		}
	})
	if firstErr != nil {
		return firstErr
	}
	// A typo in the config file should not be silently ignored. Keys for
	// other commands' flags are fine: one file serves every command.
	var unknown []string
	for k := range file {
		if !known[k] && !allFlagNames(cmd.Root())[k] {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file %s: unknown key(s) %s (keys are flag names, see mlcycle <command> --help)", path, strings.Join(unknown, ", "))
	}
	return nil
}

func readConfigFile(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config file: %w", err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("config file %s is not valid YAML: %w", path, err)
	}
	return m, nil
}

func configString(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func allFlagNames(root *cobra.Command) map[string]bool {
	names := map[string]bool{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		c.PersistentFlags().VisitAll(func(f *pflag.Flag) { names[f.Name] = true })
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	return names
}
