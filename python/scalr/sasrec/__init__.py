"""SASRec (Kang and McAuley 2018), the sequential consumer of synthetic histories (issue 15):
model (causal self-attention over item ids), data (histories -> padded windows), train (softmax
cross-entropy, Adam, early stopping on a real validation slice, a token budget), evaluate
(full-catalog ranking through scalr.evaluation)."""
