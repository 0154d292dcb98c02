"""streamlearn.active"""
