package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mlcycle/mlcycle/client"
)

func newUsersCmd(d *deps) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage users and their roles (admin, editor, viewer)",
		Long: `Manage the users who may sign in to mlcycle.

Roles: viewer reads everything; editor also creates and changes experiments,
runs, models, datasets and deployments; admin also manages users and reads
the audit log.

Without --server these commands work directly on the database (that is how
the first admin is created); with --server they go through the REST API and
need an admin's credentials.`,
	}
	cmd.AddCommand(newUsersCreateCmd(d), newUsersListCmd(d), newUsersSetCmd(d), newUsersDeleteCmd(d))
	return cmd
}

func newUsersCreateCmd(d *deps) *cobra.Command {
	var t target
	var role string
	var isAdmin, pwStdin bool
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a user (asks for the password)",
		Example: `  mlcycle users create alice --admin
  echo "$PASSWORD" | mlcycle users create bob --role viewer --password-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isAdmin {
				role = "admin"
			}
			pw, err := readNewPassword(d, pwStdin)
			if err != nil {
				return err
			}
			return t.run(cmd, func(ctx context.Context, a admin) error {
				u, err := a.CreateUser(ctx, args[0], pw, role)
				if err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "created user %s (%s)\n", u.Name, u.Role)
				return nil
			})
		},
	}
	addTargetFlags(cmd, &t)
	cmd.Flags().StringVar(&role, "role", "editor", "role: admin, editor or viewer")
	cmd.Flags().BoolVar(&isAdmin, "admin", false, "make the user an admin (same as --role admin)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the new password from the first line of standard input")
	return cmd
}

func newUsersListCmd(d *deps) *cobra.Command {
	var t target
	var output string
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List users",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			return t.run(cmd, func(ctx context.Context, a admin) error {
				users, err := a.ListUsers(ctx)
				if err != nil {
					return err
				}
				if output == "json" {
					return writeJSON(d.stdout, users)
				}
				rows := make([][]string, len(users))
				for i, u := range users {
					rows[i] = []string{u.Name, u.Role, yesNo(u.Disabled), fmtTime(u.CreatedAt)}
				}
				return writeTable(d.stdout, []string{"NAME", "ROLE", "DISABLED", "CREATED"}, rows)
			})
		},
	}
	addTargetFlags(cmd, &t)
	addOutputFlag(cmd, &output)
	return cmd
}

func newUsersSetCmd(d *deps) *cobra.Command {
	var t target
	var role string
	var pwStdin, newPassword, disable, enable bool
	cmd := &cobra.Command{
		Use:   "set NAME",
		Short: "Change a user's role, password, or disable/enable the user",
		Example: `  mlcycle users set bob --role admin
  mlcycle users set bob --new-password      # asks for the new password
  mlcycle users set bob --disable`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var up client.UserUpdate
			if role != "" {
				up.Role = &role
			}
			if disable && enable {
				return errors.New("--disable and --enable exclude each other")
			}
			if disable || enable {
				up.Disabled = &disable
			}
			if newPassword || pwStdin {
				pw, err := readNewPassword(d, pwStdin)
				if err != nil {
					return err
				}
				up.Password = &pw
			}
			if up.Role == nil && up.Disabled == nil && up.Password == nil {
				return errors.New("nothing to change: give --role, --new-password, --password-stdin, --disable or --enable")
			}
			return t.run(cmd, func(ctx context.Context, a admin) error {
				u, err := a.UpdateUser(ctx, args[0], up)
				if err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "updated user %s (%s, disabled: %s)\n", u.Name, u.Role, yesNo(u.Disabled))
				return nil
			})
		},
	}
	addTargetFlags(cmd, &t)
	cmd.Flags().StringVar(&role, "role", "", "new role: admin, editor or viewer")
	cmd.Flags().BoolVar(&newPassword, "new-password", false, "set a new password (asked for on the terminal)")
	cmd.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the new password from the first line of standard input")
	cmd.Flags().BoolVar(&disable, "disable", false, "disable the user (sign-in and tokens stop working)")
	cmd.Flags().BoolVar(&enable, "enable", false, "enable a disabled user")
	return cmd
}

func newUsersDeleteCmd(d *deps) *cobra.Command {
	var t target
	cmd := &cobra.Command{
		Use:     "rm NAME",
		Aliases: []string{"delete"},
		Short:   "Delete a user and their tokens",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return t.run(cmd, func(ctx context.Context, a admin) error {
				if err := a.DeleteUser(ctx, args[0]); err != nil {
					return err
				}
				fmt.Fprintf(d.stdout, "deleted user %s\n", args[0])
				return nil
			})
		},
	}
	addTargetFlags(cmd, &t)
	return cmd
}

// readNewPassword reads a password from stdin's first line, or asks twice on
// the terminal without echo.
func readNewPassword(d *deps, fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(d.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("reading password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("no password on standard input")
		}
		return pw, nil
	}
	f, ok := d.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("no terminal to ask for a password: pass it with --password-stdin")
	}
	fmt.Fprint(d.stderr, "New password: ")
	a, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(d.stderr)
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	fmt.Fprint(d.stderr, "Repeat it: ")
	b, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(d.stderr)
	if err != nil {
		return "", fmt.Errorf("reading password: %w", err)
	}
	if string(a) != string(b) {
		return "", errors.New("the two passwords differ")
	}
	return string(a), nil
}
