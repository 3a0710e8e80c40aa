"""Data scientists' workflow: sample building, training, evaluation."""
