package scoring

import (
	"go.yaml.in/yaml/v3"

	"github.com/leadscore/leads/pkg/model"
)

func yamlMarshal(f model.File) ([]byte, error) { return yaml.Marshal(f) }
