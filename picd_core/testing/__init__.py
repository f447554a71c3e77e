"""Test helpers shipped with the library (the fuzz harness shared by the CI test and the long run in bench/)."""
