// Package dynamotest runs the embedded DynamoDB-compatible server (minidyn) in
// process for tests, with handoff's two tables created from template.yaml, and
// hands out a real SDK client pointed at it.
package dynamotest

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/handoff-health/handoff/infra/tables"
	"github.com/handoff-health/handoff/shared/dynamo"
	"github.com/handoff-health/handoff/shared/testenv"
)

// DB is one embedded server with both tables.
type DB struct {
	Server  *server.Server
	URL     string
	Client  *dynamodb.Client
	Tables  dynamo.Tables
	Counter *dynamo.Counter
}

// New starts an embedded server for the test and creates the tables.
func New(t testing.TB) *DB {
	t.Helper()
	srv := server.NewServer()
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	db := &DB{Server: srv, URL: hs.URL, Counter: &dynamo.Counter{}}
	db.Client = Client(hs.URL, db.Counter.Middleware())
	inputs, err := tableInputs(filepath.Join(testenv.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatalf("read tables from template.yaml: %v", err)
	}
	if err := tables.EnsureTables(context.Background(), db.Client, inputs); err != nil {
		t.Fatalf("create tables: %v", err)
	}
	db.Tables = dynamo.Tables{Referrals: "ReferralsTable", Directory: "DirectoryTable"}
	db.Counter.Reset()
	return db
}

// templates holds the tables read from each template.yaml, by path: reading
// the template takes longer than starting a server and creating its tables,
// and it does not change while the tests run.
var templates sync.Map // path → func() ([]*dynamodb.CreateTableInput, error)

// tableInputs returns the tables of the template at path, read once.
func tableInputs(path string) ([]*dynamodb.CreateTableInput, error) {
	load, _ := templates.LoadOrStore(path, sync.OnceValues(func() ([]*dynamodb.CreateTableInput, error) {
		return tables.FromTemplate(path)
	}))
	return load.(func() ([]*dynamodb.CreateTableInput, error))()
}

// Client returns a DynamoDB client for an embedded server at url.
func Client(url string, opts ...func(*dynamodb.Options)) *dynamodb.Client {
	base := func(o *dynamodb.Options) {
		o.Region = "us-east-1"
		o.BaseEndpoint = aws.String(url)
		o.Credentials = credentials.NewStaticCredentialsProvider("local", "local", "")
		o.DisableValidateResponseChecksum = true
	}
	return dynamodb.New(dynamodb.Options{}, append([]func(*dynamodb.Options){base}, opts...)...)
}

// Scan returns every item of a table.
func Scan(t testing.TB, db *DB, table string) []map[string]types.AttributeValue {
	t.Helper()
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(db.Client, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatalf("scan %s: %v", table, err)
		}
		items = append(items, page.Items...)
	}
	return items
}

// Dump returns every item of a table as text (for tests that check what is
// stored in clear), in a stable order, so that two dumps compare.
func Dump(t testing.TB, db *DB, table string) string {
	t.Helper()
	var items []string
	for _, item := range Scan(t, db, table) {
		var b strings.Builder
		dumpValue(&b, &types.AttributeValueMemberM{Value: item})
		items = append(items, b.String())
	}
	slices.Sort(items)
	return strings.Join(items, "")
}

// dumpValue writes an attribute value with its map keys in order, each
// string and binary value on a line of its own.
func dumpValue(b *strings.Builder, v types.AttributeValue) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		b.WriteString(v.Value + "\n")
	case *types.AttributeValueMemberB:
		b.Write(v.Value)
		b.WriteString("\n")
	case *types.AttributeValueMemberN:
		b.WriteString(v.Value + "\n")
	case *types.AttributeValueMemberBOOL:
		fmt.Fprintf(b, "%t\n", v.Value)
	case *types.AttributeValueMemberSS:
		b.WriteString(strings.Join(v.Value, "\n") + "\n")
	case *types.AttributeValueMemberL:
		for _, e := range v.Value {
			dumpValue(b, e)
		}
	case *types.AttributeValueMemberM:
		keys := make([]string, 0, len(v.Value))
		for k := range v.Value {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteString("{\n")
		for _, k := range keys {
			b.WriteString(k + ": ")
			dumpValue(b, v.Value[k])
		}
		b.WriteString("}\n")
	}
}
