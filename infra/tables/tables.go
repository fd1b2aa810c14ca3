// Package tables turns the DynamoDB tables declared in template.yaml into
// CreateTableInput values, and creates them where they are missing.
//
// template.yaml is the only place the key schemas live (docs/DATA.md). The local
// stack and integration tests read the tables from it, so a key or index changed
// there reaches every local run without a second copy. Tables are named by their
// logical id (ReferralsTable, DirectoryTable).
//
// Only what CreateTable needs is carried over: keys, attribute definitions,
// secondary indexes with their projections, billing mode and provisioned
// throughput. Settings a local DynamoDB-compatible server cannot honour (time to
// live, streams, encryption, point-in-time recovery, deletion protection) are
// reported in Definitions.Skipped so a caller can log them once.
package tables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	cfn "github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/intrinsics"
)

// Definitions are the tables of one template.
type Definitions struct {
	// Tables holds one CreateTableInput per AWS::DynamoDB::Table, sorted by
	// logical id, with TableName set to the logical id.
	Tables []*dynamodb.CreateTableInput
	// Skipped lists, one line each, the table settings that CreateTable does not
	// apply (for example "ReferralsTable: StreamSpecification NEW_IMAGE").
	Skipped []string
}

// Load reads the template at path (YAML or JSON) and converts its DynamoDB
// tables.
//
// It returns an error when the file cannot be read or parsed, when it declares
// no AWS::DynamoDB::Table, or when a table is incomplete (no key schema, a key
// or index attribute without a definition, an index without a projection, a
// provisioned table without throughput).
func Load(path string) (Definitions, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Definitions{}, fmt.Errorf("read template: %w", err)
	}
	defs, err := Parse(data)
	if err != nil {
		return Definitions{}, fmt.Errorf("template %s: %w", path, err)
	}
	return defs, nil
}

// FromTemplate reads the template at path and returns one CreateTableInput per
// DynamoDB table, named by its logical id. It fails as Load does.
func FromTemplate(path string) ([]*dynamodb.CreateTableInput, error) {
	defs, err := Load(path)
	if err != nil {
		return nil, err
	}
	return defs.Tables, nil
}

// Parse converts the DynamoDB tables of a template held in memory. It fails as
// Load does, except that it does no file access.
//
// Only the AWS::DynamoDB::Table resources are decoded with goformation's
// schema: the template's other resources (SAM functions and APIs) may use
// properties newer than goformation knows, which it would refuse.
func Parse(data []byte) (Definitions, error) {
	resolved, err := intrinsics.ProcessYAML(data, nil)
	if err != nil {
		return Definitions{}, fmt.Errorf("parse: %w", err)
	}
	var doc struct {
		Resources map[string]json.RawMessage
	}
	if err := json.Unmarshal(resolved, &doc); err != nil {
		return Definitions{}, fmt.Errorf("parse resources: %w", err)
	}
	found := map[string]*cfn.Table{}
	for name, raw := range doc.Resources {
		var head struct{ Type string }
		if err := json.Unmarshal(raw, &head); err != nil {
			return Definitions{}, fmt.Errorf("parse resource %s: %w", name, err)
		}
		if head.Type != tableType {
			continue
		}
		// The resource type's own decoder refuses a property it does not
		// know, as goformation's whole-template parse does; it needs only
		// the DynamoDB schema, not every service's.
		t := new(cfn.Table)
		if err := json.Unmarshal(raw, t); err != nil {
			return Definitions{}, fmt.Errorf("decode tables: %s: %w", name, err)
		}
		found[name] = t
	}
	if len(found) == 0 {
		return Definitions{}, errors.New("no " + tableType + " resources")
	}
	names := slices.Sorted(maps.Keys(found))
	var defs Definitions
	for _, name := range names {
		in, err := convert(name, found[name])
		if err != nil {
			return Definitions{}, fmt.Errorf("table %s: %w", name, err)
		}
		defs.Tables = append(defs.Tables, in)
		defs.Skipped = append(defs.Skipped, skipped(name, found[name])...)
	}
	return defs, nil
}

const tableType = "AWS::DynamoDB::Table"

func convert(name string, t *cfn.Table) (*dynamodb.CreateTableInput, error) {
	if len(t.KeySchema) == 0 {
		return nil, errors.New("no KeySchema")
	}
	defined := make(map[string]bool, len(t.AttributeDefinitions))
	in := &dynamodb.CreateTableInput{TableName: aws.String(name)}
	for _, a := range t.AttributeDefinitions {
		defined[a.AttributeName] = true
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{
			AttributeName: aws.String(a.AttributeName),
			AttributeType: types.ScalarAttributeType(a.AttributeType),
		})
	}

	keys, err := keySchema(t.KeySchema, defined)
	if err != nil {
		return nil, fmt.Errorf("key schema: %w", err)
	}
	in.KeySchema = keys

	provisioned := t.BillingMode == nil || *t.BillingMode == string(types.BillingModeProvisioned)
	if provisioned {
		if t.ProvisionedThroughput == nil {
			return nil, errors.New("billing mode PROVISIONED without ProvisionedThroughput")
		}
		in.BillingMode = types.BillingModeProvisioned
		in.ProvisionedThroughput = throughput(t.ProvisionedThroughput)
	} else {
		in.BillingMode = types.BillingMode(*t.BillingMode)
	}

	for _, g := range t.GlobalSecondaryIndexes {
		keys, err := keySchema(g.KeySchema, defined)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", g.IndexName, err)
		}
		proj, err := projection(g.Projection)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", g.IndexName, err)
		}
		gsi := types.GlobalSecondaryIndex{IndexName: aws.String(g.IndexName), KeySchema: keys, Projection: proj}
		if provisioned {
			if g.ProvisionedThroughput == nil {
				return nil, fmt.Errorf("index %s: PROVISIONED table index without ProvisionedThroughput", g.IndexName)
			}
			gsi.ProvisionedThroughput = throughput(g.ProvisionedThroughput)
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, gsi)
	}
	for _, l := range t.LocalSecondaryIndexes {
		keys, err := keySchema(l.KeySchema, defined)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", l.IndexName, err)
		}
		proj, err := projection(l.Projection)
		if err != nil {
			return nil, fmt.Errorf("index %s: %w", l.IndexName, err)
		}
		in.LocalSecondaryIndexes = append(in.LocalSecondaryIndexes, types.LocalSecondaryIndex{
			IndexName: aws.String(l.IndexName), KeySchema: keys, Projection: proj,
		})
	}
	return in, nil
}

func keySchema(ks []cfn.Table_KeySchema, defined map[string]bool) ([]types.KeySchemaElement, error) {
	if len(ks) == 0 {
		return nil, errors.New("empty")
	}
	out := make([]types.KeySchemaElement, 0, len(ks))
	for _, k := range ks {
		if !defined[k.AttributeName] {
			return nil, fmt.Errorf("attribute %s has no AttributeDefinition", k.AttributeName)
		}
		out = append(out, types.KeySchemaElement{
			AttributeName: aws.String(k.AttributeName),
			KeyType:       types.KeyType(k.KeyType),
		})
	}
	return out, nil
}

func projection(p *cfn.Table_Projection) (*types.Projection, error) {
	if p == nil || p.ProjectionType == nil {
		return nil, errors.New("no ProjectionType")
	}
	out := &types.Projection{ProjectionType: types.ProjectionType(*p.ProjectionType)}
	if len(p.NonKeyAttributes) > 0 {
		out.NonKeyAttributes = slices.Clone(p.NonKeyAttributes)
	}
	return out, nil
}

func throughput(p *cfn.Table_ProvisionedThroughput) *types.ProvisionedThroughput {
	return &types.ProvisionedThroughput{
		ReadCapacityUnits:  aws.Int64(int64(p.ReadCapacityUnits)),
		WriteCapacityUnits: aws.Int64(int64(p.WriteCapacityUnits)),
	}
}

// skipped names the settings of t that CreateTable does not carry.
func skipped(name string, t *cfn.Table) []string {
	var out []string
	add := func(format string, args ...any) {
		out = append(out, name+": "+fmt.Sprintf(format, args...))
	}
	if s := t.TimeToLiveSpecification; s != nil && s.Enabled {
		add("TimeToLiveSpecification on %s (items do not expire)", aws.ToString(s.AttributeName))
	}
	if s := t.StreamSpecification; s != nil {
		add("StreamSpecification %s (no stream: events are delivered by the sweeper)", s.StreamViewType)
	}
	if s := t.SSESpecification; s != nil && s.SSEEnabled {
		kind := aws.ToString(s.SSEType)
		if kind == "" {
			kind = "AWS owned key"
		}
		add("SSESpecification %s", kind)
	}
	if s := t.PointInTimeRecoverySpecification; s != nil && aws.ToBool(s.PointInTimeRecoveryEnabled) {
		add("PointInTimeRecoverySpecification")
	}
	if aws.ToBool(t.DeletionProtectionEnabled) {
		add("DeletionProtectionEnabled")
	}
	if t.KinesisStreamSpecification != nil {
		add("KinesisStreamSpecification")
	}
	if t.ContributorInsightsSpecification != nil {
		add("ContributorInsightsSpecification")
	}
	if t.TableClass != nil {
		add("TableClass %s", *t.TableClass)
	}
	return out
}

// TableAPI is the part of the DynamoDB client EnsureTables uses;
// *dynamodb.Client satisfies it.
type TableAPI interface {
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
	CreateTable(ctx context.Context, in *dynamodb.CreateTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.CreateTableOutput, error)
}

// EnsureTables creates each table in inputs that the endpoint behind client does
// not have yet, and leaves existing tables as they are (it does not compare
// their schemas). A table created concurrently by another process
// (ResourceInUseException) counts as existing.
//
// It does not wait for a new table to become ACTIVE: DynamoDB-compatible local
// servers may never report a status, and tables there are usable at once.
// It returns the first DescribeTable or CreateTable error, wrapped with the
// table's name.
func EnsureTables(ctx context.Context, client TableAPI, inputs []*dynamodb.CreateTableInput) error {
	for _, in := range inputs {
		name := aws.ToString(in.TableName)
		_, err := client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: in.TableName})
		if err == nil {
			continue
		}
		if _, missing := errors.AsType[*types.ResourceNotFoundException](err); !missing {
			return fmt.Errorf("describe table %s: %w", name, err)
		}
		if _, err := client.CreateTable(ctx, in); err != nil {
			if _, inUse := errors.AsType[*types.ResourceInUseException](err); inUse {
				continue
			}
			return fmt.Errorf("create table %s: %w", name, err)
		}
	}
	return nil
}
