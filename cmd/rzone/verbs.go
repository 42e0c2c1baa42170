package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/rzonedb/rzone/client"
	"github.com/rzonedb/rzone/internal/money"
	"github.com/spf13/cobra"
)

// clientVerbs returns the commands that talk to a cluster through package
// client: account, pay, repay, payment, bill.
func clientVerbs(f *clientFlags) []*cobra.Command {
	amountHelp := "amounts are decimals in major units with at most two decimals (19.99), stored exactly as minor units"

	account := &cobra.Command{Use: "account", Short: "Create, change and read accounts"}
	account.AddCommand(&cobra.Command{
		Use: "put USER CREDIT_LIMIT", Short: "Create an account or set its credit limit", Long: amountHelp,
		Example: "  rzone account put 42 5000.00",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, limit, err := f.amountSession(cmd, args)
			if err != nil {
				return err
			}
			defer cancel()
			a, err := c.PutAccount(ctx, user, limit)
			if err != nil {
				return err
			}
			return printAccount(cmd, f, a)
		},
	})
	get := &cobra.Command{
		Use: "get USER", Short: "Read an account", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, err := f.userSession(cmd, args[0])
			if err != nil {
				return err
			}
			defer cancel()
			a, err := c.GetAccount(ctx, user, f.readOpts()...)
			if err != nil {
				return err
			}
			return printAccount(cmd, f, a)
		},
	}
	account.AddCommand(get)

	var payKey, merchant string
	pay := &cobra.Command{
		Use: "pay USER AMOUNT", Short: "Pay on credit (idempotent by --key)", Long: amountHelp + ".\nRetrying with the same --key never charges twice.",
		Example: "  rzone pay 42 19.99 --key order-1001 --merchant books",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, amount, err := f.amountSession(cmd, args)
			if err != nil {
				return err
			}
			defer cancel()
			p, replayed, err := c.PayReplayed(ctx, user, client.PayRequest{Key: payKey, Amount: amount, Merchant: merchant})
			if err != nil {
				retryHint(cmd, err, "pay", args, payKey, "--merchant", merchant)
				return err
			}
			if replayed && f.output == "table" {
				fmt.Fprintln(cmd.ErrOrStderr(), "(key seen before: this is the original payment)")
			}
			return printPayments(cmd, f, p, []client.Payment{*p})
		},
	}
	pay.Flags().StringVar(&payKey, "key", "", "idempotency key (default: a new random one, printed before the request is sent)")
	pay.Flags().StringVar(&merchant, "merchant", "", "merchant name")
	pay.PreRun = func(cmd *cobra.Command, args []string) {
		if payKey == "" {
			payKey = newKey("pay")
			fmt.Fprintf(cmd.ErrOrStderr(), "key: %s\n", payKey)
		}
	}

	var repayKey, cycle string
	repay := &cobra.Command{
		Use: "repay USER AMOUNT", Short: "Repay bills (idempotent by --key)", Long: amountHelp + ".\nWithout --cycle the oldest bills are paid first.",
		Example: "  rzone repay 42 19.99 --key repay-1",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, amount, err := f.amountSession(cmd, args)
			if err != nil {
				return err
			}
			defer cancel()
			r, err := c.Repay(ctx, user, client.RepayRequest{Key: repayKey, Amount: amount, Cycle: cycle})
			if err != nil {
				retryHint(cmd, err, "repay", args, repayKey, "--cycle", cycle)
				return err
			}
			var rows [][]string
			for _, al := range r.Allocations {
				rows = append(rows, []string{r.Key, strconv.FormatUint(r.User, 10), money.Format(r.Amount), r.Status, al.Cycle, money.Format(al.Amount)})
			}
			return f.print(cmd.OutOrStdout(), r, []string{"KEY", "USER", "AMOUNT", "STATUS", "CYCLE", "APPLIED"}, rows)
		},
	}
	repay.Flags().StringVar(&repayKey, "key", "", "idempotency key (default: a new random one, printed)")
	repay.Flags().StringVar(&cycle, "cycle", "", "pay this cycle's bill (YYYYMM)")
	repay.PreRun = func(cmd *cobra.Command, args []string) {
		if repayKey == "" {
			repayKey = newKey("repay")
			fmt.Fprintf(cmd.ErrOrStderr(), "key: %s\n", repayKey)
		}
	}

	payment := &cobra.Command{Use: "payment", Short: "Read payments"}
	payment.AddCommand(&cobra.Command{
		Use: "get USER KEY", Short: "Read one payment", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, err := f.userSession(cmd, args[0])
			if err != nil {
				return err
			}
			defer cancel()
			p, err := c.GetPayment(ctx, user, args[1], f.readOpts()...)
			if err != nil {
				return err
			}
			return printPayments(cmd, f, p, []client.Payment{*p})
		},
	})
	var after string
	var limit int
	list := &cobra.Command{
		Use: "list USER", Short: "List a user's payments by key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, err := f.userSession(cmd, args[0])
			if err != nil {
				return err
			}
			defer cancel()
			l, err := c.ListPayments(ctx, user, client.ListOptions{After: after, Limit: limit}, f.readOpts()...)
			if err != nil {
				return err
			}
			if err := printPayments(cmd, f, l, l.Payments); err != nil {
				return err
			}
			if l.Next != "" && f.output == "table" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more: --after %s\n", l.Next)
			}
			return nil
		},
	}
	list.Flags().StringVar(&after, "after", "", "list keys after this one")
	list.Flags().IntVar(&limit, "limit", 100, "page size")
	payment.AddCommand(list)

	bill := &cobra.Command{Use: "bill", Short: "Read bills"}
	bill.AddCommand(&cobra.Command{
		Use: "list USER", Short: "List a user's bills", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, err := f.userSession(cmd, args[0])
			if err != nil {
				return err
			}
			defer cancel()
			bills, err := c.ListBills(ctx, user, f.readOpts()...)
			if err != nil {
				return err
			}
			return printBills(cmd, f, map[string]any{"bills": bills}, bills)
		},
	})
	bill.AddCommand(&cobra.Command{
		Use: "get USER CYCLE", Short: "Read one bill (cycle YYYYMM)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel, c, user, err := f.userSession(cmd, args[0])
			if err != nil {
				return err
			}
			defer cancel()
			b, err := c.GetBill(ctx, user, args[1], f.readOpts()...)
			if err != nil {
				return err
			}
			return printBills(cmd, f, b, []client.Bill{*b})
		},
	})

	for _, c := range []*cobra.Command{get, list, payment.Commands()[0], bill.Commands()[0], bill.Commands()[1]} {
		c.Flags().BoolVar(&f.stale, "stale", false, "read the contacted node's replica (may lag) instead of a linearizable read")
	}
	return []*cobra.Command{account, pay, repay, payment, bill}
}

func userAmount(args []string) (uint64, int64, error) {
	user, err := parseUser(args[0])
	if err != nil {
		return 0, 0, err
	}
	amount, err := money.Parse(args[1])
	if err != nil {
		return 0, 0, err
	}
	return user, amount, nil
}

// newKey returns a fresh idempotency key: prefix and 128 random bits, so
// that two commands typed at the same instant, on two machines, never share
// one.
func newKey(prefix string) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("rzone: no randomness for a key: %v", err)) // crypto/rand does not fail on Linux
	}
	return prefix + "-" + hex.EncodeToString(b[:])
}

// retryHint tells the user, when a write's outcome is unknown, the exact
// command that settles it: the same one with the same key, which never
// applies twice. flag and value are the verb's optional flag, left out when
// empty. The connection flags the user gave (--addr, --ca, --timeout) come
// along; a --token does not (a secret is not printed): the command reads
// RZONE_TOKEN or the token file as this one did. Every word is quoted for
// a POSIX shell.
func retryHint(cmd *cobra.Command, err error, verb string, args []string, key, flag, value string) {
	if !errors.Is(err, client.ErrUnknownOutcome) && !errors.Is(err, client.ErrInternal) && !errors.Is(err, context.DeadlineExceeded) {
		return
	}
	words := []string{"rzone", verb, args[0], args[1], "--key", key}
	if value != "" {
		words = append(words, flag, value)
	}
	for _, name := range []string{"addr", "ca", "timeout"} {
		if f := cmd.Flag(name); f != nil && f.Changed {
			words = append(words, "--"+name, f.Value.String())
		}
	}
	line := make([]string, len(words))
	for i, w := range words {
		line[i] = shellQuote(w)
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "the outcome is unknown: it may have been applied. Run the same command with the same key to settle it; it never applies twice:\n  %s\n", strings.Join(line, " "))
}

// shellQuote quotes s for a POSIX shell: as it is when it holds only
// characters no shell treats specially, else in single quotes.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func printAccount(cmd *cobra.Command, f *clientFlags, a *client.Account) error {
	return f.print(cmd.OutOrStdout(), a, []string{"USER", "LIMIT", "USED", "PENDING", "AVAILABLE"},
		[][]string{{strconv.FormatUint(a.User, 10), money.Format(a.CreditLimit), money.Format(a.Used), money.Format(a.Pending), money.Format(a.Available)}})
}

func printPayments(cmd *cobra.Command, f *clientFlags, v any, ps []client.Payment) error {
	var rows [][]string
	for _, p := range ps {
		rows = append(rows, []string{p.Key, strconv.FormatUint(p.User, 10), money.Format(p.Amount), p.Merchant, p.Status, p.Cycle, p.CreatedAt})
	}
	return f.print(cmd.OutOrStdout(), v, []string{"KEY", "USER", "AMOUNT", "MERCHANT", "STATUS", "CYCLE", "CREATED"}, rows)
}

func printBills(cmd *cobra.Command, f *clientFlags, v any, bs []client.Bill) error {
	var rows [][]string
	for _, b := range bs {
		rows = append(rows, []string{strconv.FormatUint(b.User, 10), b.Cycle, money.Format(b.Principal), money.Format(b.Paid), money.Format(b.Outstanding), b.DueDate, b.Status})
	}
	return f.print(cmd.OutOrStdout(), v, []string{"USER", "CYCLE", "PRINCIPAL", "PAID", "OUTSTANDING", "DUE", "STATUS"}, rows)
}
