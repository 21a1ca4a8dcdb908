"""[no-complete-genome] (referential 7.2): the complete genome is never collected."""

from .support import located, only_problem


def test_whole_genome_sequencing_is_refused_even_when_justified():
    problem = only_problem("complete_genome.yaml")
    assert str(problem).startswith(
        located("complete_genome.yaml", "label:", "no-complete-genome", "wgs_done")
    )
