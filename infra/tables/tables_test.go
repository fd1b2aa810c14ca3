package tables_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/truora/minidyn/server"

	"github.com/handoff-health/handoff/infra/tables"
)

const templatePath = "../../template.yaml"

func TestLoadTemplate(t *testing.T) {
	defs, err := tables.Load(templatePath)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	byName := map[string]*dynamodb.CreateTableInput{}
	for _, in := range defs.Tables {
		byName[aws.ToString(in.TableName)] = in
	}
	if got := len(defs.Tables); got != 2 {
		t.Fatalf("got %d tables, want 2 (ReferralsTable, DirectoryTable)", got)
	}

	cases := []struct {
		table, index, projection string
		nonKey                   []string
		indexes                  int
	}{
		{table: "ReferralsTable", index: "due-index", projection: "INCLUDE", nonKey: []string{"type"}, indexes: 2},
		{table: "DirectoryTable", index: "source-index", projection: "KEYS_ONLY", indexes: 1},
	}
	for _, tc := range cases {
		t.Run(tc.table, func(t *testing.T) {
			in := byName[tc.table]
			if in == nil {
				t.Fatalf("no table %s in %v", tc.table, defs.Tables)
			}
			if in.BillingMode != types.BillingModePayPerRequest {
				t.Errorf("billing mode %q, want PAY_PER_REQUEST", in.BillingMode)
			}
			if in.ProvisionedThroughput != nil {
				t.Errorf("on-demand table has provisioned throughput")
			}
			wantKeys := []string{"PK/HASH", "SK/RANGE"}
			if got := keys(in.KeySchema); !slices.Equal(got, wantKeys) {
				t.Errorf("key schema %v, want %v", got, wantKeys)
			}
			if len(in.GlobalSecondaryIndexes) != tc.indexes {
				t.Fatalf("got %d GSIs, want %d", len(in.GlobalSecondaryIndexes), tc.indexes)
			}
			gsi := in.GlobalSecondaryIndexes[0]
			if aws.ToString(gsi.IndexName) != tc.index {
				t.Errorf("index %q, want %q", aws.ToString(gsi.IndexName), tc.index)
			}
			if got, want := keys(gsi.KeySchema), []string{"GSI1PK/HASH", "GSI1SK/RANGE"}; !slices.Equal(got, want) {
				t.Errorf("index keys %v, want %v", got, want)
			}
			if string(gsi.Projection.ProjectionType) != tc.projection || !slices.Equal(gsi.Projection.NonKeyAttributes, tc.nonKey) {
				t.Errorf("projection %s %v, want %s %v", gsi.Projection.ProjectionType, gsi.Projection.NonKeyAttributes, tc.projection, tc.nonKey)
			}
			for _, setting := range []string{"TimeToLiveSpecification on expires_at", "SSESpecification KMS", "PointInTimeRecoverySpecification", "DeletionProtectionEnabled"} {
				if !containsPrefix(defs.Skipped, tc.table+": "+setting) {
					t.Errorf("skipped list lacks %q for %s: %q", setting, tc.table, defs.Skipped)
				}
			}
		})
	}
	if !containsPrefix(defs.Skipped, "ReferralsTable: StreamSpecification NEW_IMAGE") {
		t.Errorf("skipped list lacks the referrals stream: %q", defs.Skipped)
	}
	if containsPrefix(defs.Skipped, "DirectoryTable: StreamSpecification") {
		t.Errorf("directory table reported a stream it does not have: %q", defs.Skipped)
	}

	plain, err := tables.FromTemplate(templatePath)
	if err != nil {
		t.Fatalf("FromTemplate: %v", err)
	}
	if len(plain) != len(defs.Tables) {
		t.Errorf("FromTemplate gave %d tables, Load %d", len(plain), len(defs.Tables))
	}
}

func TestParseRejectsIncompleteTables(t *testing.T) {
	const head = "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n"
	cases := []struct {
		name, yaml, wantErr string
	}{
		{
			name:    "no tables",
			yaml:    "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n",
			wantErr: "no AWS::DynamoDB::Table",
		},
		{
			name: "key without attribute definition",
			yaml: head + "      BillingMode: PAY_PER_REQUEST\n" +
				"      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]\n" +
				"      KeySchema: [{AttributeName: PK, KeyType: HASH}, {AttributeName: SK, KeyType: RANGE}]\n",
			wantErr: "attribute SK has no AttributeDefinition",
		},
		{
			name: "index without projection",
			yaml: head + "      BillingMode: PAY_PER_REQUEST\n" +
				"      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]\n" +
				"      KeySchema: [{AttributeName: PK, KeyType: HASH}]\n" +
				"      GlobalSecondaryIndexes: [{IndexName: i, KeySchema: [{AttributeName: PK, KeyType: HASH}]}]\n",
			wantErr: "index i: no ProjectionType",
		},
		{
			name: "a misspelt property",
			yaml: head + "      BillingMode: PAY_PER_REQUEST\n" +
				"      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]\n" +
				"      KeySchema: [{AttributeName: PK, KeyType: HASH}]\n" +
				"      PointInTimeRecoverySpecificaton: {PointInTimeRecoveryEnabled: true}\n",
			wantErr: "decode tables: T",
		},
		{
			name: "provisioned without throughput",
			yaml: head +
				"      AttributeDefinitions: [{AttributeName: PK, AttributeType: S}]\n" +
				"      KeySchema: [{AttributeName: PK, KeyType: HASH}]\n",
			wantErr: "without ProvisionedThroughput",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tables.Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseProvisioned(t *testing.T) {
	defs, err := tables.Parse([]byte(`
Resources:
  Small:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}, {AttributeName: at, AttributeType: N}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      ProvisionedThroughput: {ReadCapacityUnits: 5, WriteCapacityUnits: 2}
      GlobalSecondaryIndexes:
        - IndexName: by-time
          KeySchema: [{AttributeName: at, KeyType: HASH}]
          Projection: {ProjectionType: ALL}
          ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
`))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	in := defs.Tables[0]
	if in.BillingMode != types.BillingModeProvisioned || aws.ToInt64(in.ProvisionedThroughput.ReadCapacityUnits) != 5 ||
		aws.ToInt64(in.ProvisionedThroughput.WriteCapacityUnits) != 2 {
		t.Errorf("table throughput: mode %q %+v", in.BillingMode, in.ProvisionedThroughput)
	}
	if g := in.GlobalSecondaryIndexes[0]; aws.ToInt64(g.ProvisionedThroughput.ReadCapacityUnits) != 1 {
		t.Errorf("index throughput %+v", g.ProvisionedThroughput)
	}
	if len(defs.Skipped) != 0 {
		t.Errorf("nothing to skip, got %q", defs.Skipped)
	}
}

// TestEnsureTables creates the template's tables on the embedded DynamoDB server
// through the real SDK client and proves the schema by writing and querying
// items the way docs/DATA.md lays them out.
func TestEnsureTables(t *testing.T) {
	ctx := t.Context()
	srv := httptest.NewServer(server.NewServer())
	t.Cleanup(srv.Close)
	client := dynamodb.New(dynamodb.Options{
		Region:                          "us-east-1",
		BaseEndpoint:                    aws.String(srv.URL),
		Credentials:                     credentials.NewStaticCredentialsProvider("local", "local", ""),
		DisableValidateResponseChecksum: true,
	})

	inputs, err := tables.FromTemplate(templatePath)
	if err != nil {
		t.Fatalf("FromTemplate: %v", err)
	}
	for range 2 { // the second pass finds both tables and leaves them alone
		if err := tables.EnsureTables(ctx, client, inputs); err != nil {
			t.Fatalf("EnsureTables: %v", err)
		}
	}

	put := func(table string, item map[string]string) {
		t.Helper()
		av := map[string]types.AttributeValue{}
		for k, v := range item {
			av[k] = &types.AttributeValueMemberS{Value: v}
		}
		if _, err := client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: av}); err != nil {
			t.Fatalf("put %s %s/%s: %v", table, item["PK"], item["SK"], err)
		}
	}
	due := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put("ReferralsTable", map[string]string{"PK": "REF#01J0000000000000000000000A", "SK": "REF", "status": "awaiting-consent"})
	put("ReferralsTable", map[string]string{
		"PK": "REF#01J0000000000000000000000A", "SK": "EVT#01J0000000000000000000000B",
		"type": "consent-requested", "GSI1PK": "DUE#0",
		"GSI1SK": due.Format("2006-01-02T15:04:05.000000000Z07:00") + "#01J0000000000000000000000B",
	})
	put("ReferralsTable", map[string]string{
		"PK": "REF#01J0000000000000000000000A", "SK": "EVT#01J0000000000000000000000C",
		"type": "consent-given", "GSI1PK": "DUE#0",
		"GSI1SK": due.Add(time.Hour).Format("2006-01-02T15:04:05.000000000Z07:00") + "#01J0000000000000000000000C",
	})
	put("DirectoryTable", map[string]string{"PK": "GROUP#g1", "SK": "GROUP", "GSI1PK": "SOURCE#meeting-guide", "GSI1SK": "GROUP#g1"})
	put("DirectoryTable", map[string]string{"PK": "CLINIC#c1", "SK": "CLINIC"})

	cases := []struct {
		name, table, index, cond string
		values                   map[string]string
		wantSK                   []string
	}{
		{
			name: "due events up to now", table: "ReferralsTable", index: "due-index",
			cond:   "GSI1PK = :p AND GSI1SK <= :now",
			values: map[string]string{":p": "DUE#0", ":now": due.Add(time.Minute).Format("2006-01-02T15:04:05.000000000Z07:00") + "#~"},
			wantSK: []string{"EVT#01J0000000000000000000000B"},
		},
		{
			name: "referral partition", table: "ReferralsTable",
			cond:   "PK = :p AND begins_with(SK, :evt)",
			values: map[string]string{":p": "REF#01J0000000000000000000000A", ":evt": "EVT#"},
			wantSK: []string{"EVT#01J0000000000000000000000B", "EVT#01J0000000000000000000000C"},
		},
		{
			name: "groups of a source", table: "DirectoryTable", index: "source-index",
			cond:   "GSI1PK = :p",
			values: map[string]string{":p": "SOURCE#meeting-guide"},
			wantSK: []string{"GROUP"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in := &dynamodb.QueryInput{
				TableName:                 aws.String(tc.table),
				KeyConditionExpression:    aws.String(tc.cond),
				ExpressionAttributeValues: map[string]types.AttributeValue{},
			}
			if tc.index != "" {
				in.IndexName = aws.String(tc.index)
			}
			for k, v := range tc.values {
				in.ExpressionAttributeValues[k] = &types.AttributeValueMemberS{Value: v}
			}
			out, err := client.Query(ctx, in)
			if err != nil {
				t.Fatalf("query: %v", err)
			}
			var got []string
			for _, item := range out.Items {
				got = append(got, item["SK"].(*types.AttributeValueMemberS).Value)
			}
			if !slices.Equal(got, tc.wantSK) {
				t.Errorf("got SKs %v, want %v", got, tc.wantSK)
			}
		})
	}
}

// fakeTables is a TableAPI whose answers each test case sets.
type fakeTables struct {
	describe func(name string) error
	create   func(name string) error
	created  []string
}

var _ tables.TableAPI = (*fakeTables)(nil)

func (f *fakeTables) DescribeTable(_ context.Context, in *dynamodb.DescribeTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	if err := f.describe(aws.ToString(in.TableName)); err != nil {
		return nil, err
	}
	return &dynamodb.DescribeTableOutput{}, nil
}

func (f *fakeTables) CreateTable(_ context.Context, in *dynamodb.CreateTableInput, _ ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error) {
	if err := f.create(aws.ToString(in.TableName)); err != nil {
		return nil, err
	}
	f.created = append(f.created, aws.ToString(in.TableName))
	return &dynamodb.CreateTableOutput{}, nil
}

func TestEnsureTablesErrors(t *testing.T) {
	notFound := func(string) error { return &types.ResourceNotFoundException{Message: aws.String("no table")} }
	ok := func(string) error { return nil }
	boom := errors.New("connection refused")
	cases := []struct {
		name        string
		describe    func(string) error
		create      func(string) error
		wantErr     string
		wantCreated []string
	}{
		{name: "existing tables are left alone", describe: ok, create: ok},
		{name: "missing tables are created", describe: notFound, create: ok, wantCreated: []string{"A", "B"}},
		{name: "created meanwhile by another process", describe: notFound, create: func(string) error {
			return &types.ResourceInUseException{Message: aws.String("exists")}
		}},
		{name: "describe fails", describe: func(string) error { return boom }, create: ok, wantErr: "describe table A: connection refused"},
		{name: "create fails", describe: notFound, create: func(string) error { return boom }, wantErr: "create table A: connection refused"},
	}
	inputs := []*dynamodb.CreateTableInput{{TableName: aws.String("A")}, {TableName: aws.String("B")}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeTables{describe: tc.describe, create: tc.create}
			err := tables.EnsureTables(t.Context(), f, inputs)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr):
				t.Fatalf("got error %v, want %q", err, tc.wantErr)
			case tc.wantErr != "" && !errors.Is(err, boom):
				t.Fatalf("error %v does not wrap the cause", err)
			}
			if !slices.Equal(f.created, tc.wantCreated) {
				t.Errorf("created %v, want %v", f.created, tc.wantCreated)
			}
		})
	}
}

func keys(ks []types.KeySchemaElement) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, aws.ToString(k.AttributeName)+"/"+string(k.KeyType))
	}
	return out
}

func containsPrefix(list []string, prefix string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return strings.HasPrefix(s, prefix) })
}
