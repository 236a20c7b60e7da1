import pytest

from kdedge.errors import ConfigError
from kdedge.recipe import DEFAULT_RECIPE, Recipe, builtin_recipes, load_recipe, parse_target


def test_default_recipe_loads_and_targets_30x():
    recipe = load_recipe()
    assert recipe.name == DEFAULT_RECIPE
    assert parse_target(recipe.student.target) == 30
    assert recipe.data.source == "builtin:tweet-sentiment"


def test_every_builtin_recipe_loads_with_a_description():
    assert builtin_recipes()
    for name in builtin_recipes():
        assert load_recipe(name).description


def test_round_trip_through_dict():
    recipe = load_recipe()
    assert Recipe.from_dict(recipe.to_dict()) == recipe


def test_unknown_key_names_the_key_and_the_known_ones():
    with pytest.raises(ConfigError) as error:
        Recipe.from_dict({"distill": {"epoch": 3}})
    assert "distill.epoch" in error.value.message
    assert "epochs" in error.value.hint


def test_value_outside_choices_lists_the_allowed_values():
    with pytest.raises(ConfigError) as error:
        Recipe.from_dict({"student": {"kind": "cnn"}})
    assert "student.kind" in error.value.message and "bilstm" in error.value.hint


def test_wrong_type_is_rejected():
    with pytest.raises(ConfigError, match="distill.epochs"):
        Recipe.from_dict({"distill": {"epochs": "many"}})


def test_sizes_keep_counts_and_fractions_apart():
    recipe = Recipe.from_dict({"data": {"train_size": 4000, "dev_size": 0.1}})
    assert recipe.data.train_size == 4000 and isinstance(recipe.data.train_size, int)
    assert recipe.data.dev_size == 0.1


def test_overrides_from_the_command_line():
    recipe = load_recipe().with_overrides(
        ["distill.epochs=3", "student.target=20x", "data.labels=[a, b]", "distill.learning_rate=1e-3"]
    )
    assert recipe.distill.epochs == 3
    assert recipe.distill.learning_rate == 0.001
    assert recipe.student.target == "20x"
    assert recipe.data.labels == ("a", "b")


def test_an_epochs_override_sets_every_stage_of_a_staged_recipe():
    recipe = load_recipe("ner-bilstm")
    assert len({stage.epochs for stage in recipe.distill.stages}) > 1  # the file gives each stage its own
    shorter = recipe.with_overrides(["distill.epochs=1"])
    assert [stage.epochs for stage in shorter.distill.stages] == [1] * len(recipe.distill.stages)
    assert [stage.losses for stage in shorter.distill.stages] == [stage.losses for stage in recipe.distill.stages]
    # a later stages override replaces them whole: one stage, which takes distill.epochs
    one_stage = recipe.with_overrides(["distill.epochs=2", "distill.stages=[]"])
    assert [(stage.name, stage.epochs) for stage in one_stage.distill.resolved_stages] == [("distill", None)]
    assert one_stage.distill.epochs == 2


@pytest.mark.parametrize("assignment", ["distill.epochs", "nosuch.field=1", "distill.epochs=-1"])
def test_bad_overrides_raise_config_errors(assignment):
    with pytest.raises(ConfigError):
        load_recipe().with_overrides([assignment])


def test_unknown_recipe_lists_builtin_names():
    with pytest.raises(ConfigError) as error:
        load_recipe("no-such-recipe")
    assert DEFAULT_RECIPE in error.value.hint


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe(path)


@pytest.mark.parametrize("text, ratio", [("30x", 30.0), ("12.5", 12.5), (8, 8.0)])
def test_parse_target(text, ratio):
    assert parse_target(text) == ratio


@pytest.mark.parametrize("text", ["fast", "1x", "0.5"])
def test_parse_target_rejects_nonsense(text):
    with pytest.raises(ConfigError):
        parse_target(text)


def test_per_channel_int8_is_on_for_transformers_unless_the_recipe_says():
    from kdedge.recipe import load_recipe

    transformer, bilstm = load_recipe("sentiment-transformer"), load_recipe("sentiment-bilstm")
    assert transformer.export.resolved_per_channel(transformer.student.kind)
    assert not bilstm.export.resolved_per_channel(bilstm.student.kind)
    assert not transformer.with_overrides(["export.per_channel=false"]).export.resolved_per_channel("transformer")
    assert bilstm.with_overrides(["export.per_channel=true"]).export.resolved_per_channel("bilstm")


def test_tagger_options_are_checked():
    with pytest.raises(ConfigError, match="entity_weight"):
        load_recipe().with_overrides(["distill.entity_weight=-1"])
    with pytest.raises(ConfigError, match="student.casing"):
        load_recipe().with_overrides(["student.kind=transformer", "student.casing=true"])
    assert load_recipe("ner-bilstm").with_overrides(["student.casing=true"]).student.casing
