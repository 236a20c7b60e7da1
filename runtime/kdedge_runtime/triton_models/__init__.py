"""Triton Python-backend models that `kdedge-runtime export-triton` copies into a model repository as
`model.py`: the tokenizer (texts to padded ids, as the student was trained) and the post-processing
(logits to the V2 route's outputs). Both need kdedge-runtime installed in Triton's Python environment."""


def answer_each(requests, pb_utils, tensors_for) -> list:
    """One Triton response per request: its `text` input as strings, `tensors_for(request, texts)` (output
    name -> array) as the response's outputs. `pb_utils` is the Python backend's own module."""
    responses = []
    for request in requests:
        raw = pb_utils.get_input_tensor_by_name(request, "text").as_numpy().reshape(-1)
        texts = [value.decode("utf-8") if isinstance(value, bytes) else str(value) for value in raw]
        tensors = tensors_for(request, texts)
        responses.append(pb_utils.InferenceResponse(
            output_tensors=[pb_utils.Tensor(name, value) for name, value in tensors.items()]))
    return responses
