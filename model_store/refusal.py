"""Why ConvScope refused something a user gave it: one code per reason, one English sentence per code.

The code is stable and machine-readable: the CLIs print it as ``"reason"``, the pages translate it
(``refusal.<code>`` in the locale files; English comes from here, so the sentence exists once). The
values fill the sentence; anything a user typed goes in as a value and is shown as text, never markup.
"""

from __future__ import annotations

REASONS = {
    # ---- names ---------------------------------------------------------------------------------------
    "name_not_text": "a name must be text",
    "name_empty": "a name cannot be empty",
    "name_too_long": "a name can have at most {limit} characters (this one has {length})",
    "name_too_many_bytes": "this name is too long for a file name ({limit} bytes at most in UTF-8)",
    "name_leading_dot": "a name cannot start with a dot",
    "name_forbidden_chars": "a name cannot contain {chars}",
    "name_control_chars": "a name cannot contain control characters",
    "name_dots": "a name cannot contain '..'",
    # ---- the model store -----------------------------------------------------------------------------
    "name_taken": "a model named '{name}' already exists; choose another name",
    "name_taken_shipped": "a shipped model named '{name}' already exists; choose another name",
    "model_not_found": "no model named '{name}'",
    "model_read_only": "'{name}' is a shipped default and cannot be changed",
    "model_broken": "the model '{name}' is broken: {problem}",
    "model_wrong_dataset": "the model '{name}' is for {dataset}, not {wanted}",
    "store_read_only": "the model store cannot be written ({folder}): models can be used but not saved, "
                       "renamed or deleted",
    "store_not_a_model": "'{name}' in the store is not a model file (a folder or a special file); remove it by hand",
    # ---- uploaded model files --------------------------------------------------------------------------
    "file_unreadable": "cannot read the file ({detail})",
    "upload_extension": "only .keras or .h5 model files can be uploaded (this is {suffix})",
    "upload_empty": "the file is empty",
    "upload_too_big": "the file is larger than {limit_mb} MB",
    "upload_h5_named_keras": "this .keras file is really an HDF5 (.h5) file: rename it to .h5 and upload it again",
    "upload_keras_named_h5": "this .h5 file is really a .keras (zip) file: rename it to .keras and upload it again",
    "upload_other_format": "this is not a Keras model file: it looks like {kind}",
    "upload_not_hdf5": "this is not an HDF5 (.h5) model file",
    "upload_truncated_zip": "this .keras file is damaged or truncated (it is not a complete zip archive); save the "
                            "model again with model.save('name.keras') and upload the new file",
    "upload_no_config": "this zip archive is not a Keras model (it has no config.json); save the model with "
                        "model.save('name.keras')",
    "upload_bad_checksum": "this .keras file is damaged ({member} fails its checksum)",
    "upload_zip_members": "this .keras file has {count} files inside; a Keras model has a few (at most {limit})",
    "upload_zip_unpacked": "this .keras file would unpack to {unpacked_mb} MB; ConvScope opens models of at most "
                           "{limit_mb} MB unpacked",
    "upload_zip_ratio": "this .keras file is compressed {ratio}:1, far more than a real model ever is (a zip bomb?)",
    "upload_config_too_big": "the model's description (config.json) is {size_kb} KB; at most {limit_kb} KB are read",
    "upload_too_many_layers": "the model has {count} layers; ConvScope shows models of at most {limit} layers",
    "upload_lambda": "the model contains a Lambda layer (Python code inside the file). Safe mode refuses to run "
                     "code from uploaded files: rebuild the model with standard Keras layers (e.g. Rescaling "
                     "instead of Lambda)",
    "upload_custom_object": "the model uses a custom layer or object{name} that ConvScope does not have; only "
                            "standard Keras layers can be uploaded",
    "upload_weights_only": "the file holds only weights, not a model: save the whole model with model.save('name.h5')",
    "upload_damaged": "the file is damaged or truncated; save the model again and upload the new file",
    "upload_keras_failed": "Keras could not load it ({detail})",
    "upload_not_a_model": "the file holds a {kind}, not a Keras model",
    "upload_no_input": "the model has no defined input (build it with keras.Input((28, 28, 1)) first)",
    "upload_inputs": "the model takes {count} inputs; ConvScope gives it one image",
    "upload_outputs": "the model has {count} outputs; ConvScope needs one output of 10 classes",
    "upload_input_shape": "the model expects input of shape {shape}, but ConvScope's images are 28x28 grayscale: "
                          "the model must take (28, 28, 1), (28, 28) or 784 values",
    "upload_classes": "the model has {count} outputs; MNIST and Fashion-MNIST have 10 classes",
    "upload_cannot_run": "the model loads but cannot run on a 28x28 image ({detail})",
    "upload_not_finite": "the model's output on a blank image is not 10 finite numbers",
    "upload_out_of_memory": "opening the model needed more than {limit_mb} MB of memory",
    "upload_timeout": "opening and checking the model took longer than {seconds} s",
    "upload_crashed": "the process that opens the model stopped unexpectedly ({detail})",
    "upload_too_slow": "one drawing takes this model {ms} ms on this server; live drawing needs under {limit_ms} ms",
    "upload_busy": "another model is being checked right now; try again in a minute",
    # notices: what was done to an accepted upload
    "note_softmax_added": "its last layer gave raw scores (logits), so a Softmax layer was added to turn them into "
                          "probabilities",
    "note_layers_renamed": "layers renamed for TensorFlow, which allows no spaces or symbols in layer names: {names}",
    # ---- predictions -------------------------------------------------------------------------------------
    "prediction_not_finite": "the model gave no valid probabilities for this input (NaN or infinity): it is "
                             "broken; train or choose another model",
    "class_names_mismatch": "the model has {outputs} outputs but its metadata names {names} classes",
    # ---- images ---------------------------------------------------------------------------------------
    "image_cannot_open": "the file cannot be opened ({detail})",
    "image_too_many_bytes": "the image file is larger than {limit_mb} MB: save it smaller (e.g. as a JPEG) and try again",
    "image_too_large": "the image has {megapixels} megapixels; at most {limit} megapixels can be read: make it smaller "
                       "and try again",
    "image_unreadable": "this is not an image ConvScope can read, or the file is damaged: use a PNG or JPEG image",
    "image_empty": "the image is blank: no ink stands out from the background",
    "image_dot": "the image shows only a dot, not the strokes of a digit",
    "image_filled": "the image shows a filled area, not the strokes of a digit",
    # ---- training -------------------------------------------------------------------------------------
    "setting_not_one_of": "{setting} must be one of {choices}, not '{value}'",
    "setting_not_whole": "{setting} must be a whole number (got {value})",
    "setting_too_small": "{setting} must be at least {low} (got {value})",
    "setting_out_of_range": "{setting} must be between {low} and {high} (got {value})",
    "setting_lowered": "{setting} can be at most {limit}: {limit} will be used",
    "setting_raised": "{setting} must be at least {limit}: {limit} will be used",
    "training_not_finite": "the loss became NaN or infinite (not a number) in epoch {epoch}: a model trained like this "
                           "answers nothing, so it cannot be saved. Lower the learning rate and train again",
    "training_weights_not_finite": "the weights of layer '{layer}' became NaN or infinite: a model like this answers "
                                   "nothing, so it cannot be saved. Lower the learning rate and train again",
    "training_busy": "the server is already training ({trainings}); watch it or wait until it ends",
    "data_unreadable": "{path}: cannot read ({detail})",
    "data_too_short": "{path}: too short to be an IDX file ({size} bytes)",
    "data_wrong_magic": "{path}: wrong magic number {found} (expected 0000 08 0{dims})",
    "data_wrong_dimensions": "{path}: has {ndim} dimensions, expected {dims}",
    "data_truncated_header": "{path}: truncated header",
    "data_wrong_size": "{path}: header says {shape} ({size} bytes) but file holds {actual} bytes",
    "data_image_shape": "{where}: images have shape {shape}, expected (n, 28, 28)",
    "data_label_count": "{where}: {labels} labels for {images} images",
    "data_label_range": "{where}: label {label} is outside 0..9",
    "data_files_missing": "{folder}: no {stem}[.gz] / labels file",
    "data_bad_npz": "{path}: not a valid mnist.npz ({detail})",
    "data_unknown": "unknown dataset '{name}'; choose one of {choices}",
    "data_not_found": "could not load {name}. Tried:\n  - {tried}\nFix: put the IDX files (train-images-idx3-ubyte.gz, "
                      "...) in <folder>/{name}/ and set CONVSCOPE_DATA=<folder> (or pass --data <folder>), or connect "
                      "to the internet for Keras' download.",
    "data_no_train": "{name}: no training images found in {source}",
    # ---- class datasets (model_store.class_data, model_store.class_files) ------------------------------------
    "class_data_not_found": "no class dataset named '{name}'",
    "class_data_name_taken": "a class dataset named '{name}' already exists; choose another name",
    "class_data_too_many": "there are already {count} class datasets, the most this server keeps ({limit}); delete one "
                           "first",
    "class_data_broken": "the class dataset '{name}' cannot be read: {problem}",
    "class_data_kind": "a class dataset is of the kind 'digits' or 'custom', not '{kind}'",
    "class_data_class_count": "a class dataset needs {low} to {high} classes (this one has {count})",
    "class_data_class_name": "class {number} ('{name}') cannot be used: a class name has 1 to {limit} characters, does "
                             "not start with a dot, and has no control characters, no '..' and none of {chars}",
    "class_data_class_twice": "the class name '{name}' is given twice; every class needs a name of its own",
    "class_data_digit_classes": "a digits class dataset has the classes 0 to 9, which cannot be changed; for other "
                                "classes choose the kind 'custom'",
    "class_data_not_digits": "'{name}' is not a digits class dataset (classes 0 to 9)",
    "class_data_class_count_fixed": "'{name}' has {count} classes; give exactly {count} names",
    "class_data_label": "'{label}' is not a class of '{name}' (its classes: {classes})",
    "class_data_image": "a drawing's model input must be a 28x28 grey image (whole numbers 0 to 255, or numbers from 0 "
                        "to 1); this one is {shape} {dtype}",
    "class_data_picture": "the picture must be a grey, RGB or RGBA image of at most {limit} pixels a side (this one is "
                          "{shape})",
    "class_data_full": "'{name}' holds {count} drawings, the most a class dataset can hold ({limit}); delete some or "
                       "start a new one",
    "class_data_drawing_not_found": "no drawing '{id}' in '{name}'",
    "class_data_too_fast": "slow down: wait {seconds} s before adding the next drawing",
    "fine_tune_impossible": "this model cannot be fine-tuned on class data: {problem}",
    "class_data_too_few": "'{name}' has too few drawings to train on: {classes} (each class needs at least {minimum})",
    "class_data_cannot_write": "cannot write {path} ({detail})",
    "class_data_import_format": "{file}: not a class dataset file; import an .npz file or an IDX images file "
                                "(NAME-images-idx3-ubyte or .gz) as ConvScope exports them",
    "class_data_import_partner_missing": "{file}: the file that belongs with it, {missing}, is missing",
    "class_data_import_npz": "{file}: not a valid class dataset .npz ({detail})",
    "class_data_import_classes": "{file}: the class names file is not valid ({detail})",
    "class_data_import_too_big": "{file}: {count} drawings; a class dataset holds at most {limit}",
    "class_data_import_label_range": "{file}: label {label} is not one of the {count} classes (0 to {last})",
}


class Refusal(ValueError):
    """Something a user gave was refused for a reason they can act on; ``str()`` is the English sentence."""

    def __init__(self, code: str, **values):
        self.code = code
        self.values = values
        super().__init__(REASONS[code].format(**values))

    def as_record(self) -> dict:
        """What a CLI prints for it: the sentence and the machine-readable reason."""
        return {"error": str(self), "reason": self.code}

    def __reduce__(self):  # crosses a process pipe as its code and values (pickle would pass the sentence)
        return _rebuilt, (type(self), self.code, self.values)


def _rebuilt(cls, code: str, values: dict) -> Refusal:
    """A subclass may take other arguments (a setting's field): set the code and values as ``Refusal`` does."""
    refusal = cls.__new__(cls)
    Refusal.__init__(refusal, code, **values)
    return refusal


class Notice:
    """Something a user should know about what was done with what they gave (not a refusal): same catalogue."""

    def __init__(self, code: str, **values):
        self.code = code
        self.values = values

    def __str__(self) -> str:
        return REASONS[self.code].format(**self.values)

    def as_record(self) -> dict:
        return {"code": self.code, "values": self.values}
