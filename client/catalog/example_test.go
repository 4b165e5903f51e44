package catalog_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mlcycle/mlcycle/client"
	"github.com/mlcycle/mlcycle/client/catalog"
)

// A training program versions its data in the local catalog, pushes the
// version to the team's server and logs it as the run's input, which links
// the run to the version there.
func Example() {
	ctx := context.Background()
	cat, err := catalog.Open(ctx, catalog.Options{}) // the CLI's local catalog
	if err != nil {
		log.Fatal(err)
	}
	defer cat.Close()
	added, err := cat.Add(ctx, "churn", []string{"data/"}, catalog.AddOptions{Message: "November export", RulesFile: "data/rules.yaml"})
	if err != nil {
		log.Fatal(err) // a *catalog.ValidationError lists every failing expectation
	}
	fmt.Println("recorded", added.Version.Ref, added.Stats.BytesNew, "new bytes")

	srv, err := client.New("http://127.0.0.1:5000", client.WithToken("..."))
	if err != nil {
		log.Fatal(err)
	}
	pushed, err := cat.Push(ctx, srv, added.Version.Ref, client.TransferOptions{})
	if err != nil {
		log.Fatal(err)
	}
	run, err := srv.CreateRun(ctx, client.RunCreate{ExperimentID: "0", RunName: "train"})
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.LogInputs(ctx, run.Info.RunID, client.DatasetInputFor(pushed.Version, "training")); err != nil {
		log.Fatal(err)
	}
}
